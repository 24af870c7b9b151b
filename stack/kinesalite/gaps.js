// Three gaps between kinesalite and real Kinesis that KCL 3 cannot live with, closed by wrapping
// kinesalite's action modules before kinesalite loads them (it require()s them by path, so the cached
// export it receives is the wrapper). Both matter only once a stream has been resharded.
//
// 1. GetRecords at the end of a closed shard: real Kinesis returns no NextShardIterator *and* the
//    shard's ChildShards. kinesalite omits ChildShards; KCL 3 rejects the response as invalid and
//    retries it forever, so the parent never reaches SHARD_END and its children are never leased.
// 2. ListShards with a ShardFilter: KCL 3 asks for the shards open at its initial position
//    (AT_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP). kinesalite ignores the filter and returns parents and
//    children together, whose hash ranges overlap; KCL then finds the range "incomplete" and never
//    creates a lease.
// 3. GetShardIterator AT_TIMESTAMP later than a shard's last record: real Kinesis returns an iterator at
//    the shard's tip; kinesalite never answers (it waits for a record that is not there), so a replay
//    application starting AT_TIMESTAMP (or `replay --to-datetime`) hangs on a quiet shard.
'use strict';
const crypto = require('crypto');
const db = require('kinesalite/db');

function wrapAction(name, wrap) {
  const path = require.resolve(`kinesalite/actions/${name}`);
  const original = require(path); // loads it into require.cache
  require.cache[path].exports = wrap(original);
}

/** Stream name and shard id inside a kinesalite shard iterator (it encrypts them with a fixed key). */
function iteratorTarget(iterator) {
  try {
    const buffer = Buffer.from(iterator, 'base64');
    const decipher = crypto.createDecipheriv('aes-256-cbc', db.ITERATOR_PWD_KEY, db.ITERATOR_PWD_IV);
    const pieces = Buffer.concat([decipher.update(buffer.slice(8)), decipher.final()]).toString('utf8').split('/');
    return { streamName: pieces[1], shardId: pieces[2] };
  } catch (e) {
    return null;
  }
}

/** The shards whose parent or adjacent parent is shardId, in the shape of the ChildShard API type. */
function childShardsOf(stream, shardId) {
  return stream.Shards
    .filter((s) => s.ParentShardId === shardId || s.AdjacentParentShardId === shardId)
    .map((s) => ({
      ShardId: s.ShardId,
      ParentShards: [s.ParentShardId, s.AdjacentParentShardId].filter(Boolean),
      HashKeyRange: s.HashKeyRange,
    }));
}

wrapAction('getRecords', (getRecords) => function getRecordsWithChildShards(store, data, cb) {
  getRecords(store, data, (err, result) => {
    if (err || !result || result.NextShardIterator) return cb(err, result);
    const target = iteratorTarget(data.ShardIterator);
    if (!target) return cb(err, result);
    store.getStream(target.streamName, (streamErr, stream) => {
      if (streamErr) return cb(streamErr);
      cb(null, Object.assign({}, result, { ChildShards: childShardsOf(stream, target.shardId) }));
    });
  });
});

/** Milliseconds since the epoch of a shard's first and last sequence numbers (end null while open). */
function openInterval(shard) {
  const range = shard.SequenceNumberRange;
  const time = (seq) => db.parseSequence(seq).shardCreateTime;
  return { start: time(range.StartingSequenceNumber), end: range.EndingSequenceNumber ? db.parseSequence(range.EndingSequenceNumber).seqTime : null };
}

function toMillis(timestamp) {
  const t = timestamp instanceof Date ? timestamp.getTime() : Number(timestamp);
  return t < 1e11 ? t * 1000 : t; // the JSON protocol sends seconds, some clients milliseconds
}

/** The ShardFilter semantics of the Kinesis API reference, for a store that never trims. */
function applyShardFilter(shards, filter) {
  const ids = new Set(shards.map((s) => s.ShardId));
  switch (filter.Type) {
    case 'AFTER_SHARD_ID':
      return shards.filter((s) => s.ShardId > filter.ShardId);
    case 'AT_TRIM_HORIZON': // nothing is trimmed here: the shards with no parent left in the stream
      return shards.filter((s) => !ids.has(s.ParentShardId) && !ids.has(s.AdjacentParentShardId));
    case 'FROM_TRIM_HORIZON':
      return shards;
    case 'AT_LATEST':
      return shards.filter((s) => !s.SequenceNumberRange.EndingSequenceNumber);
    case 'AT_TIMESTAMP': {
      const t = toMillis(filter.Timestamp);
      return shards.filter((s) => { const o = openInterval(s); return o.start <= t && (o.end === null || o.end >= t); });
    }
    case 'FROM_TIMESTAMP': {
      const t = toMillis(filter.Timestamp);
      return shards.filter((s) => { const o = openInterval(s); return o.end === null || o.end >= t; });
    }
    default:
      return shards;
  }
}

const listShardsValidation = require('kinesalite/validations/listShards');
listShardsValidation.types.ShardFilter = {
  type: 'Structure',
  children: {
    Type: { type: 'String' },
    ShardId: { type: 'String' },
    Timestamp: { type: 'Timestamp' },
  },
};

wrapAction('listShards', (listShards) => function listShardsWithFilter(store, data, cb) {
  listShards(store, data, (err, result) => {
    if (err || !result || !data.ShardFilter) return cb(err, result);
    cb(null, Object.assign({}, result, { Shards: applyShardFilter(result.Shards, data.ShardFilter) }));
  });
});

wrapAction('getShardIterator', (getShardIterator) => function getShardIteratorAtTimestamp(store, data, cb) {
  if (data.ShardIteratorType !== 'AT_TIMESTAMP' || data.Timestamp == null || data.Timestamp * 1000 > Date.now()) {
    return getShardIterator(store, data, cb);
  }
  let shardIx;
  try {
    shardIx = db.resolveShardId(data.ShardId).shardIx;
  } catch (e) {
    return getShardIterator(store, data, cb); // it answers the error itself
  }
  store.getStream(data.StreamName, (err) => {
    if (err) return getShardIterator(store, data, cb);
    let decided = false;
    const records = store.getStreamDb(data.StreamName).createReadStream({
      gt: db.shardIxToHex(shardIx),
      lt: db.shardIxToHex(shardIx + 1),
    });
    records.on('data', (item) => {
      if (!decided && item.value.ApproximateArrivalTimestamp >= data.Timestamp) {
        decided = true;
        records.destroy();
        getShardIterator(store, data, cb); // a record is there: kinesalite's own answer
      }
    });
    const atTip = () => {
      if (decided) return;
      decided = true;
      getShardIterator(store, Object.assign({}, data, { ShardIteratorType: 'LATEST', Timestamp: undefined }), cb);
    };
    records.on('end', atTip);
    records.on('close', atTip);
    records.on('error', () => { if (!decided) { decided = true; getShardIterator(store, data, cb); } });
  });
});
