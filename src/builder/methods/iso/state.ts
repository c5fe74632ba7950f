import type {ResultPromise} from 'execa';
import type {QmpClient} from '../../../providers/qemu/qmp.js';
import type {BuildHttpServer} from '../../http-server.js';
import type {RenderedFile} from '../../render.js';
import type {BuildState} from '../index.js';

/** What the iso method's steps know about one build; each step records what it created. */
export interface IsoData {
  isoPath?: string;
  kernelPath?: string;
  initrdPath?: string;
  rendered?: RenderedFile[];
  answerCd?: string;
  server?: BuildHttpServer;
  httpIp: string;
  /** The build VM's folder: disk, qmp socket, serial log, pid (constant names, as in Lima). */
  vmDir?: string;
  disk?: string;
  qemu?: ResultPromise;
  qemuPid?: number;
  /** Kills QEMU if box exits without running the cleanups (second Ctrl-C, crash). */
  killOnExit?: () => void;
  qmpSocket?: string;
  qmp?: QmpClient;
  serialLog?: string;
  sshPort?: number;
  compacted?: string;
}

export const VM_FILES = {disk: 'disk.qcow2', qmp: 'qmp.sock', serialLog: 'serial.log', pid: 'qemu.pid', qemuLog: 'qemu.log', answerCd: 'answers.iso', compacted: 'box.img'} as const;

/** QEMU user networking: the guest sees the host (and so the build HTTP server) as 10.0.2.2. */
export const GUEST_HOST_IP = '10.0.2.2';

export function iso(state: BuildState): IsoData {
  state.data.iso ??= {httpIp: GUEST_HOST_IP} satisfies IsoData;
  return state.data.iso as IsoData;
}

/** How to reach a kept VM (for --on-error abort and the boot message). */
export function reachVmLines(d: IsoData): string[] {
  return [
    d.qemuPid ? `qemu pid: ${d.qemuPid}` : '',
    d.qmpSocket ? `qmp socket: ${d.qmpSocket} (e.g. socat - UNIX-CONNECT:${d.qmpSocket})` : '',
    d.serialLog ? `serial log: ${d.serialLog}` : '',
    d.sshPort ? `ssh: 127.0.0.1:${d.sshPort}` : '',
    d.server?.listening ? `answer files: http://127.0.0.1:${d.server.port}/ (guest: http://${d.httpIp}:${d.server.port}/)` : '',
  ].filter(Boolean);
}
