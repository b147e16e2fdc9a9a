// A Redis adapter for the reference (oidc-provider's documented adapter interface: upsert, find,
// findByUid, findByUserCode, consume, destroy, revokeByGrantId), so that `make bench` can also
// compare against a reference that keeps its codes, tokens, sessions and grants outside its own
// memory, as ours does. Used when BENCH_REFERENCE_REDIS_URL is set (bench/run.py sets it with
// BENCH_REFERENCE_ADAPTER=redis); the default reference keeps everything in memory.
//
// Each model is one hash, `payload` (JSON) and `consumed` (seconds), expiring with the model: a
// lookup is one HGETALL, a consumption one HSET that keeps the key's time to live. A grant's
// tokens are a set, so revoking a grant is SMEMBERS and one DEL.
import Redis from 'ioredis';

const client = new Redis(process.env.BENCH_REFERENCE_REDIS_URL, { keyPrefix: 'bench-reference:' });
const withGrant = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest']);

export default class RedisAdapter {
  constructor(name) {
    this.name = name;
  }

  key(id) {
    return `${this.name}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const tx = client.multi().del(key).hset(key, 'payload', JSON.stringify(payload));
    if (expiresIn) tx.expire(key, expiresIn);
    if (withGrant.has(this.name) && payload.grantId) {
      const grant = `grant:${payload.grantId}`;
      tx.sadd(grant, key);
      if (expiresIn) tx.expire(grant, expiresIn, 'NX').expire(grant, expiresIn, 'GT');  // the longest token's life
    }
    for (const [field, index] of [['uid', 'uid'], ['userCode', 'userCode']]) {
      if (payload[field]) {
        tx.set(`${index}:${payload[field]}`, id);
        if (expiresIn) tx.expire(`${index}:${payload[field]}`, expiresIn);
      }
    }
    await tx.exec();
  }

  async find(id) {
    if (!id) return undefined;
    const found = await client.hgetall(this.key(id));
    if (!found || !found.payload) return undefined;
    const model = JSON.parse(found.payload);
    if (found.consumed) model.consumed = Number(found.consumed);
    return model;
  }

  async findByUid(uid) {
    return this.find(await client.get(`uid:${uid}`));
  }

  async findByUserCode(userCode) {
    return this.find(await client.get(`userCode:${userCode}`));
  }

  async consume(id) {
    await client.hset(this.key(id), 'consumed', Math.floor(Date.now() / 1000));
  }

  async destroy(id) {
    await client.del(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const grant = `grant:${grantId}`;
    const keys = await client.smembers(grant);
    // the set holds the keys as given; ioredis puts its prefix on every key argument of DEL
    await client.del(grant, ...keys);
  }
}
