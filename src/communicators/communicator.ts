export type OutputStream = 'stdout' | 'stderr';

export interface ExecOptions {
  sudo?: boolean;
  env?: Record<string, string>;
  onOutput?: (stream: OutputStream, data: string) => void;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Where a guest's SSH server answers and how to log in (what a provider reports for a machine). */
export interface SshInfo {
  host: string;
  port: number;
  username: string;
  privateKeyPath: string;
}

export interface UploadOptions {
  signal?: AbortSignal;
}

/** How box talks to a running guest (SSH today; WinRM-free: Windows templates enable OpenSSH). */
export interface Communicator {
  waitForReady(timeoutMs: number, signal: AbortSignal): Promise<void>;
  /** Runs a command and resolves with its exit code; output streams as it comes. */
  exec(command: string, options?: ExecOptions): Promise<number>;
  /** Uploads a file or a whole folder (recursively) to `remote`. */
  upload(local: string, remote: string, options?: UploadOptions): Promise<void>;
  close(): Promise<void>;
}
