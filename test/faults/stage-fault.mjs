// Test preload for the fault suite (loaded into a `box` process with
// NODE_OPTIONS="--import /abs/path/stage-fault.mjs"). It subscribes to the `box:stage`
// diagnostics channel that src/core/ui.ts publishes every stage on, and, when told by its own
// environment variables, stops box deterministically at a named stage:
//
//   BOX_FAULT_STAGE   stage name, optionally `#N` for its N-th occurrence (default 1): "boot", "provision#2"
//   BOX_FAULT_ACTION  kill      SIGKILL this process (kill -9)
//                     sigint    SIGINT this process only (`kill -INT pid`)
//                     ctrl-c    SIGINT the whole process group, as a terminal's Ctrl-C does
//                               (start box as a group leader: spawn it detached)
//                     ctrl-c-twice  two Ctrl-C in a row (box exits without cleanup)
//                     sigterm   SIGTERM this process
//                     pause     block the whole process (event loop, timers, signal handlers)
//                               until the file `go` appears in BOX_FAULT_PAUSE_DIR; writes
//                               `paused.json` there first ({pid, stage, detail})
//   BOX_FAULT_WAIT_CHILD  optional regex: act only once a child process of box whose command
//                         line matches it exists (e.g. "qemu-system" = while QEMU starts)
//   BOX_FAULT_DELAY_MS    optional: act this many ms after the stage started (the stage runs meanwhile)
//   BOX_FAULT_LOG     optional file: every stage of every box process is appended as one JSON line
//                     {pid, name, detail, t}; the fault itself as {name: "!fault", detail: "ACTION at STAGE"}
//
// The BOX_FAULT_* variables that choose an action are removed from this process's environment
// at once, so the processes box starts (a `box box add` child of `build --add`) run unharmed.
// Nothing in src/ reads them: the channel is an ordinary observability point.
import diagnosticsChannel from 'node:diagnostics_channel';
import {appendFileSync, existsSync, readdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs';
import path from 'node:path';

const env = process.env;
const wanted = env.BOX_FAULT_STAGE;
const action = env.BOX_FAULT_ACTION;
const waitChild = env.BOX_FAULT_WAIT_CHILD ? new RegExp(env.BOX_FAULT_WAIT_CHILD) : undefined;
const delayMs = Number(env.BOX_FAULT_DELAY_MS ?? 0);
const pauseDir = env.BOX_FAULT_PAUSE_DIR;
const log = env.BOX_FAULT_LOG;
for (const key of ['BOX_FAULT_STAGE', 'BOX_FAULT_ACTION', 'BOX_FAULT_WAIT_CHILD', 'BOX_FAULT_DELAY_MS', 'BOX_FAULT_PAUSE_DIR']) delete env[key];

const [stageName, occurrence] = wanted ? [wanted.split('#')[0], Number(wanted.split('#')[1] ?? 1)] : [undefined, 0];
const seen = new Map();
let fired = false;

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Child processes of this process whose command line matches `pattern`. */
function childMatching(pattern) {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== process.pid) continue;
      if (pattern.test(readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' '))) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

function isGroupLeader() {
  // /proc/self/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces, so parse after ")".
  const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\)\s*/s, '').split(' ');
  return Number(fields[2]) === process.pid;
}

function ctrlC() {
  if (!isGroupLeader()) throw new Error('stage-fault: ctrl-c needs box to lead its process group (spawn it detached)');
  process.kill(-process.pid, 'SIGINT');
}

function act(message) {
  // Recorded first: the test knows where the fault hit even when box dies at once.
  if (log) appendFileSync(log, JSON.stringify({pid: process.pid, name: '!fault', detail: `${action} at ${message.name}`, t: Date.now()}) + '\n');
  switch (action) {
    case 'kill':
      process.kill(process.pid, 'SIGKILL');
      sleepSync(10_000); // never returns: nothing of box runs after a kill -9
      break;
    case 'sigint':
      process.kill(process.pid, 'SIGINT');
      break;
    case 'sigterm':
      process.kill(process.pid, 'SIGTERM');
      break;
    case 'ctrl-c':
      ctrlC();
      break;
    case 'ctrl-c-twice': {
      // The second one once box's handler says it saw the first, and so while the cleanup runs
      // (a fixed delay raced the cleanup: it can finish in well under 200 ms).
      const write = process.stderr.write;
      process.stderr.write = function (chunk, ...rest) {
        const result = write.call(this, chunk, ...rest);
        if (String(chunk).includes('Interrupted: cleaning up')) {
          process.stderr.write = write;
          ctrlC();
        }
        return result;
      };
      ctrlC();
      break;
    }
    case 'pause': {
      if (!pauseDir) throw new Error('stage-fault: pause needs BOX_FAULT_PAUSE_DIR');
      writeFileSync(path.join(pauseDir, 'paused.json.tmp'), JSON.stringify({pid: process.pid, ...message}));
      // Renamed into place so the test never reads half a file.
      renameSync(path.join(pauseDir, 'paused.json.tmp'), path.join(pauseDir, 'paused.json'));
      while (!existsSync(path.join(pauseDir, 'go'))) sleepSync(20);
      break;
    }
    default:
      throw new Error(`stage-fault: unknown BOX_FAULT_ACTION ${JSON.stringify(action)}`);
  }
}

diagnosticsChannel.subscribe('box:stage', (message) => {
  if (log) appendFileSync(log, JSON.stringify({pid: process.pid, name: message.name, detail: message.detail, t: Date.now()}) + '\n');
  if (fired || !stageName || message.name !== stageName) return;
  const count = (seen.get(message.name) ?? 0) + 1;
  seen.set(message.name, count);
  if (count !== occurrence) return;
  fired = true;
  if (!waitChild && delayMs === 0) {
    act(message);
    return;
  }
  // Asynchronous: the stage goes on meanwhile (it starts the child we wait for).
  const started = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - started < delayMs) return;
    if (waitChild && childMatching(waitChild) === undefined) return;
    clearInterval(timer);
    act(message);
  }, 10);
  timer.unref();
});
