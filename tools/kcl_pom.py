"""Turn the pom.xml inside the amazon-kclpy sdist into a pom Maven can resolve.

The shipped pom lists the KCL jars but has no coordinates of its own; Maven refuses a project
without them. We add coordinates and nothing else, so the jar set stays exactly kclpy's own.
Usage: kcl_pom.py <amazon_kclpy-X.tar.gz> <out pom.xml>
"""

import sys
import tarfile

sdist, out = sys.argv[1], sys.argv[2]
with tarfile.open(sdist) as tar:
    member = next(m for m in tar.getmembers() if m.name.endswith("/pom.xml") and m.name.count("/") == 1)
    pom = tar.extractfile(member).read().decode()
marker = "<modelVersion>4.0.0</modelVersion>"
if marker not in pom:
    sys.exit(f"kcl_pom: no {marker} in {member.name}; the amazon-kclpy pom changed shape")
coordinates = "<groupId>facewatch.build</groupId><artifactId>kclpy-jars</artifactId><version>1</version>"
with open(out, "w") as f:
    f.write(pom.replace(marker, marker + coordinates, 1))
