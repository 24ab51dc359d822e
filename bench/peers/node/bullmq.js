// bullmq.js -- BullMQ as a peer of tq (modes: see common.js). Default
// options everywhere except the worker's concurrency; completed jobs are
// kept (removeOnComplete unset), which is what the drain counts.
'use strict';
const { Queue, Worker } = require('bullmq');
const { conn, mono, sleepMs, side, report, paced, warmUp } = require('./common');

const QN = 'bench';
const [mode, a, b] = process.argv.slice(2);

async function client() {
  const q = new Queue(QN, { connection: conn });
  await q.waitUntilReady();
  return q;
}

async function main() {
  if (mode === 'worker') {
    const r = side();
    const w = new Worker(QN, async (job) => {
      if (job.name === 'noop') return;
      if (job.name === 'sleep') return sleepMs(job.data.ms);
      if (job.name === 'lat') {
        const d = mono() - job.data.t;
        await r.rpush('peers:lat', Math.round(d * 1e6));
      }
    }, { connection: conn, concurrency: Number(a) });
    const stop = async () => { await w.close(); await r.quit(); process.exit(0); };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    return;
  }
  const q = await client();
  if (mode === 'bulk') {
    const n = Number(a);
    const t0 = mono();
    const jobs = new Array(n);
    for (let i = 0; i < n; i++) jobs[i] = { name: 'noop', data: { i: i + 1 } };
    await q.addBulk(jobs);
    report({ seconds: mono() - t0 });
  } else if (mode === 'one') {
    const n = Number(a);
    const t0 = mono();
    for (let i = 0; i < n; i++) await q.add('noop', { i: i + 1 });
    report({ seconds: mono() - t0 });
  } else if (mode === 'sleep') {
    const jobs = [];
    for (let i = 0; i < Number(a); i++) jobs.push({ name: 'sleep', data: { ms: Number(b) } });
    await q.addBulk(jobs);
  } else if (mode === 'lat') {
    const r = side();
    await warmUp(r, () => q.add('lat', { t: mono() }));
    const rate = await paced(Number(a), Number(b), () => q.add('lat', { t: mono() }));
    report({ rate });
    await r.quit();
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  await q.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
