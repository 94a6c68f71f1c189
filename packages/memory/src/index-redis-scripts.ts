/**
 * The Lua scripts of the Redis index (index-redis.ts). A script runs alone on
 * the server, so each batch, deletion and listing is one atomic step, and
 * counters are HINCRBY / HINCRBYFLOAT: two processes flushing at once both
 * count. Every script gets the namespace's key prefix as ARGV[1]; every key it
 * touches starts with it (one hash tag, so one cluster slot).
 *
 * Keys under the prefix P = `larder:{<namespace>}:`:
 *   P e:<entry key>  HASH name (JSON text), bytes, created, last, compute, hits, lx
 *   P keys           ZSET, every entry key at score 0 (ZRANGEBYLEX: key order)
 *   P lru            ZSET, `<lx><entry key>` at score 0; lx is 16 hex digits that sort
 *                    like last access, so lex order is (last access, key)
 *   P agg            HASH `<folder>/<body>|n` entries and `|b` bytes per body
 *   P fn             HASH `<folder>|n` name, `|h` hits, `|m` misses, `|s` compute time saved
 *   P bd             HASH `<folder>/<body>|n` name, `|a` first use, `|z` last use
 *   P meta           HASH needsReconcile
 * Numbers travel and are stored as the strings JavaScript printed, so they
 * come back exact; the scripts compare them with tonumber.
 *
 * Redis does not roll a script back when a command in it fails, so the caller
 * checks every number before sending (nothing in these scripts can fail on
 * well-formed input).
 */

const COMMON = `
local p = ARGV[1]
local function bodyid(key)
  local f, b = string.match(key, '^([^/]*)/([^/]*)/')
  return f .. '/' .. b
end
local function unindex(key)
  local old = redis.call('HMGET', p .. 'e:' .. key, 'bytes', 'lx')
  if not old[1] then return false end
  local id = bodyid(key)
  local n = redis.call('HINCRBY', p .. 'agg', id .. '|n', -1)
  if n <= 0 then redis.call('HDEL', p .. 'agg', id .. '|n', id .. '|b')
  elseif tonumber(old[1]) > 0 then redis.call('HINCRBY', p .. 'agg', id .. '|b', '-' .. old[1]) end
  redis.call('ZREM', p .. 'lru', old[2] .. key)
  return true
end
local function remove(key)
  local existed = unindex(key)
  redis.call('DEL', p .. 'e:' .. key)
  redis.call('ZREM', p .. 'keys', key)
  return existed
end
local function put(key, name, bytes, created, last, compute, hits, lx)
  unindex(key)
  redis.call('HSET', p .. 'e:' .. key, 'name', name, 'bytes', bytes, 'created', created, 'last', last, 'compute', compute, 'hits', hits, 'lx', lx)
  redis.call('ZADD', p .. 'keys', 0, key)
  redis.call('ZADD', p .. 'lru', 0, lx .. key)
  local id = bodyid(key)
  redis.call('HINCRBY', p .. 'agg', id .. '|n', 1)
  if tonumber(bytes) > 0 then redis.call('HINCRBY', p .. 'agg', id .. '|b', bytes) end
end
local function row(key)
  local v = redis.call('HMGET', p .. 'e:' .. key, 'name', 'bytes', 'created', 'last', 'compute', 'hits')
  return { key, v[1], v[2], v[3], v[4], v[5], v[6] }
end
`;

/**
 * ARGV[2]: JSON `{ put, hits, fns, bodies }`, every value a string:
 * put [key, name, bytes, created, last, compute, hits, lx]; hits [key, name, hits, last, created,
 * compute, bytes, lx]; fns [folder, name, hits, misses, saved]; bodies [folder, body, name, first, last].
 */
export const APPLY = `${COMMON}
local b = cjson.decode(ARGV[2])
for _, e in ipairs(b.put) do put(e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8]) end
for _, h in ipairs(b.hits) do
  local ek = p .. 'e:' .. h[1]
  local old = redis.call('HMGET', ek, 'last', 'lx')
  if not old[1] then
    put(h[1], h[2], h[7], h[5], h[4], h[6], h[3], h[8])
  else
    redis.call('HINCRBY', ek, 'hits', h[3])
    if tonumber(h[4]) > tonumber(old[1]) then
      redis.call('HSET', ek, 'last', h[4], 'lx', h[8])
      redis.call('ZREM', p .. 'lru', old[2] .. h[1])
      redis.call('ZADD', p .. 'lru', 0, h[8] .. h[1])
    end
  end
end
for _, f in ipairs(b.fns) do
  local k = p .. 'fn'
  redis.call('HSET', k, f[1] .. '|n', f[2])
  redis.call('HINCRBY', k, f[1] .. '|h', f[3])
  redis.call('HINCRBY', k, f[1] .. '|m', f[4])
  redis.call('HINCRBYFLOAT', k, f[1] .. '|s', f[5])
end
for _, u in ipairs(b.bodies) do
  local k = p .. 'bd'
  local id = u[1] .. '/' .. u[2]
  local cur = redis.call('HMGET', k, id .. '|a', id .. '|z')
  redis.call('HSET', k, id .. '|n', u[3])
  if not cur[1] or tonumber(u[4]) < tonumber(cur[1]) then redis.call('HSET', k, id .. '|a', u[4]) end
  if not cur[2] or tonumber(u[5]) > tonumber(cur[2]) then redis.call('HSET', k, id .. '|z', u[5]) end
end
return 1
`;

/** ARGV[2..]: entry keys to delete. Returns how many had records. */
export const DELETE_KEYS = `${COMMON}
local n = 0
for i = 2, #ARGV do
  if remove(ARGV[i]) then n = n + 1 end
end
return n
`;

/** ARGV[2], ARGV[3]: ZRANGEBYLEX bounds; ARGV[4]: at most this many. Deletes those entries; returns how many. */
export const DELETE_RANGE = `${COMMON}
local keys = redis.call('ZRANGEBYLEX', p .. 'keys', ARGV[2], ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
for _, key in ipairs(keys) do remove(key) end
return #keys
`;

/** ARGV[2]: '' (every body), 'folder/' or 'folder/body/': deletes those body records. */
export const DELETE_BODIES = `${COMMON}
local pre = ARGV[2]
for _, f in ipairs(redis.call('HKEYS', p .. 'bd')) do
  local id = string.match(f, '^(.*)|[naz]$')
  if id and (pre == '' or string.sub(id .. '/', 1, #pre) == pre) then redis.call('HDEL', p .. 'bd', f) end
end
return 1
`;

/**
 * ARGV[2]: 'keys' or 'lru'; ARGV[3], ARGV[4]: ZRANGEBYLEX bounds; ARGV[5]: limit; ARGV[6]: a key
 * prefix the lru listing filters on ('' for none; the keys listing puts it in its bounds).
 * Returns rows [key, name, bytes, created, last, compute, hits].
 */
export const PAGE = `${COMMON}
local set, min, max, want, pre = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local out = {}
if set == 'keys' then
  for _, key in ipairs(redis.call('ZRANGEBYLEX', p .. 'keys', min, max, 'LIMIT', 0, want)) do out[#out + 1] = row(key) end
  return out
end
local chunk = math.max(want, 256)
while #out < want do
  local members = redis.call('ZRANGEBYLEX', p .. 'lru', min, max, 'LIMIT', 0, chunk)
  for _, m in ipairs(members) do
    local key = string.sub(m, 17)
    if pre == '' or string.sub(key, 1, #pre) == pre then
      out[#out + 1] = row(key)
      if #out >= want then break end
    end
  end
  if #members < chunk then break end
  min = '(' .. members[#members]
end
return out
`;

/** Deletes every key of the namespace's index except meta, a bounded number of entries per call; returns how many entry records were left to delete before this call. */
export const CLEAR_STEP = `${COMMON}
local keys = redis.call('ZRANGEBYLEX', p .. 'keys', '-', '+', 'LIMIT', 0, tonumber(ARGV[2]))
for _, key in ipairs(keys) do redis.call('DEL', p .. 'e:' .. key) end
if #keys > 0 then redis.call('ZREM', p .. 'keys', unpack(keys)) end
if #keys < tonumber(ARGV[2]) then redis.call('DEL', p .. 'keys', p .. 'lru', p .. 'agg', p .. 'fn', p .. 'bd') end
return #keys
`;
