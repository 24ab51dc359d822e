// common.js -- what bullmq.js and beequeue.js share: the command line, the
// clock, pacing, and a side connection for the latency figures.
//
// Each peer program takes MODE ARGS... with the private Redis in PEERS_PORT:
//   bulk N          enqueue N no-ops with the library's bulk call; prints
//                   {"seconds": S} timed around that call (after connecting)
//   one N           enqueue N no-ops one at a time, awaiting each
//   sleep N MS      enqueue N jobs that sleep MS ms (bulk, not timed)
//   lat RATE COUNT  one warm-up job, then COUNT jobs at RATE/s, each carrying
//                   the CLOCK_MONOTONIC time it was sent; the handler pushes
//                   (start - sent) in µs to the list peers:lat
//   worker CONC     a worker at concurrency CONC until SIGTERM
'use strict';
const Redis = require('ioredis');

const port = Number(process.env.PEERS_PORT);
if (!port) { console.error('PEERS_PORT is not set'); process.exit(2); }
const conn = { host: '127.0.0.1', port };

// CLOCK_MONOTONIC in seconds: the same clock in every process of the
// machine (Ruby's and Python's monotonic clocks read it too).
const mono = () => Number(process.hrtime.bigint()) / 1e9;
const sleepMs = (ms) => new Promise((r) => setTimeout(r, ms));

function side() { return new Redis(conn); }

function report(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

// paced(rate, count, send): calls send(i) COUNT times, the i-th at
// t0 + i/rate (no drift), awaiting each; returns the achieved rate.
async function paced(rate, count, send) {
  const t0 = mono();
  for (let i = 0; i < count; i++) {
    const ahead = t0 + i / rate - mono();
    if (ahead > 0) await sleepMs(ahead * 1000);
    await send(i);
  }
  return count / (mono() - t0);
}

// warmUp(send): sends one job and waits (bounded) until its handler has
// pushed to peers:lat, so the worker is connected and idle; then clears it.
async function warmUp(r, send) {
  await r.del('peers:lat');
  await send();
  for (let i = 0; i < 600; i++) {
    if ((await r.llen('peers:lat')) > 0) { await r.del('peers:lat'); return; }
    await sleepMs(50);
  }
  throw new Error('warm-up job not run within 30 s');
}

module.exports = { conn, mono, sleepMs, side, report, paced, warmUp };
