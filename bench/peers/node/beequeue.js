// beequeue.js -- bee-queue as a peer of tq (modes: see common.js). Default
// queue settings everywhere (isWorker, getEvents, sendEvents, storeJobs on;
// removeOnSuccess off, so succeeded ids stay in bq:bench:succeeded, which
// is what the drain counts).
'use strict';
const Queue = require('bee-queue');
const { conn, mono, sleepMs, side, report, paced, warmUp } = require('./common');

const QN = 'bench';
const [mode, a, b] = process.argv.slice(2);

async function main() {
  const q = new Queue(QN, { redis: conn });
  await q.ready();
  if (mode === 'worker') {
    const r = side();
    q.process(Number(a), async (job) => {
      const d = job.data;
      if (d.k === 'noop') return;
      if (d.k === 'sleep') return sleepMs(d.ms);
      if (d.k === 'lat') {
        const dt = mono() - d.t;
        await r.rpush('peers:lat', Math.round(dt * 1e6));
      }
    });
    const stop = async () => { await q.close(); await r.quit(); process.exit(0); };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    return;
  }
  if (mode === 'bulk') {
    const n = Number(a);
    const t0 = mono();
    const jobs = new Array(n);
    for (let i = 0; i < n; i++) jobs[i] = q.createJob({ k: 'noop', i: i + 1 });
    const errors = await q.saveAll(jobs);
    if (errors.size) throw new Error(`saveAll: ${errors.size} errors`);
    report({ seconds: mono() - t0 });
  } else if (mode === 'one') {
    const n = Number(a);
    const t0 = mono();
    for (let i = 0; i < n; i++) await q.createJob({ k: 'noop', i: i + 1 }).save();
    report({ seconds: mono() - t0 });
  } else if (mode === 'sleep') {
    const jobs = [];
    for (let i = 0; i < Number(a); i++) jobs.push(q.createJob({ k: 'sleep', ms: Number(b) }));
    await q.saveAll(jobs);
  } else if (mode === 'lat') {
    const r = side();
    await warmUp(r, () => q.createJob({ k: 'lat', t: mono() }).save());
    const rate = await paced(Number(a), Number(b), () => q.createJob({ k: 'lat', t: mono() }).save());
    report({ rate });
    await r.quit();
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  await q.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
