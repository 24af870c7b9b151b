"""The kinds of value a setting holds, as pydantic types.

YAML gives typed values and the environment gives text. A YAML value of the wrong kind is refused
(a list or `yes` where a name is expected, `2000.9` or `true` where a count is expected), while text
is parsed the way pydantic's lax mode would ("2000", "0.2", "true", "off"). Every number is finite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AllowInfNan, BeforeValidator, Field, Strict, TypeAdapter, ValidationError


def _parsed_from_text(kind: type) -> BeforeValidator:
    """Parse a string as `kind` (lax); leave any other value for the strict check to judge."""
    lax: TypeAdapter[Any] = TypeAdapter(kind)

    def parse(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return lax.validate_python(value)
        except ValidationError:
            return value  # the strict validator reports it, with the field's name

    return BeforeValidator(parse)


def _null_as(empty: Any) -> Callable[[Any], Any]:
    """YAML `key:` with nothing after it reads as null: take it as the empty value, as before."""
    return lambda value: empty if value is None else value


def _empty_text_as_none(value: Any) -> Any:
    return None if value == "" else value


Text = Annotated[str, Strict(), BeforeValidator(_null_as(""))]
Name = Annotated[Text, Field(min_length=1)]
Int = Annotated[int, Strict(), _parsed_from_text(int)]
Float = Annotated[float, Strict(), AllowInfNan(False), _parsed_from_text(float)]
OptionalFloat = Annotated[Float | None, BeforeValidator(_empty_text_as_none)]
Bool = Annotated[bool, Strict(), _parsed_from_text(bool)]

# A timeout, a retry delay: zero (or less) means nothing.
Seconds = Annotated[Float, Field(gt=0, description="seconds, more than 0")]
Cooldown = Annotated[Float, Field(ge=0, description="0 (no cooldown) or more seconds")]
# Rekognition's confidence, sharpness and brightness.
Percent = Annotated[Float, Field(ge=0, le=100, description="between 0 and 100")]
