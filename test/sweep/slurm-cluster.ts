import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, hostname } from 'node:os';
import { join } from 'node:path';

/**
 * A throw-away single-node Slurm cluster for tests: munged, slurmctld and slurmd from Debian's
 * packages, run as children of the test with every file (key, sockets, state, logs) in a private
 * temp dir and on free loopback ports, so nothing on the machine is touched and `stop` ends it all.
 */
export const SLURM_BINARIES = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'sinfo'];

export function slurmAvailable(): boolean {
  return SLURM_BINARIES.every((b) => spawnSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' }).status === 0);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

async function until(what: string, check: () => boolean, timeoutMs: number, logs: () => string): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`slurm test cluster: ${what} did not happen in ${timeoutMs} ms\n${logs()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export class SlurmCluster {
  private readonly children: ChildProcess[] = [];
  readonly env: NodeJS.ProcessEnv;
  readonly conf: string;

  private constructor(readonly dir: string) {
    this.conf = join(dir, 'slurm.conf');
    this.env = { ...process.env, SLURM_CONF: this.conf };
  }

  static async start(dir: string): Promise<SlurmCluster> {
    const c = new SlurmCluster(dir);
    try {
      await c.boot();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  private spawnDaemon(cmd: string, args: string[], log: string): void {
    const child = spawn(cmd, args, { env: this.env, stdio: ['ignore', 'ignore', 'ignore'], detached: false });
    child.on('error', (err) => writeFileSync(join(this.dir, `${log}.spawn-error`), String(err)));
    this.children.push(child);
  }

  logs(): string {
    return ['munged.log', 'slurmctld.log', 'slurmd.log']
      .map((f) => join(this.dir, f))
      .filter(existsSync)
      .map((f) => `--- ${f}\n${readFileSync(f, 'utf8').split('\n').slice(-15).join('\n')}`)
      .join('\n');
  }

  private async boot(): Promise<void> {
    const d = this.dir;
    mkdirSync(d, { recursive: true, mode: 0o700 });
    chmodSync(d, 0o700);
    for (const sub of ['munge', 'state', 'spool']) mkdirSync(join(d, sub), { recursive: true, mode: 0o700 });
    const key = join(d, 'munge', 'munge.key');
    writeFileSync(key, randomBytes(1024), { mode: 0o600 });
    const socket = join(d, 'munge', 'munge.sock');
    this.spawnDaemon('munged', ['--foreground', '--force', `--socket=${socket}`, `--key-file=${key}`, `--pid-file=${join(d, 'munge', 'munged.pid')}`, `--log-file=${join(d, 'munged.log')}`, `--seed-file=${join(d, 'munge', 'seed')}`], 'munged');
    await until('munged socket', () => existsSync(socket), 15_000, () => this.logs());

    const node = hostname().split('.')[0]!;
    const [ctldPort, dPort] = [await freePort(), await freePort()];
    writeFileSync(
      this.conf,
      [
        'ClusterName=silicatest',
        `SlurmctldHost=${node}(127.0.0.1)`,
        `SlurmctldPort=${ctldPort}`,
        `SlurmdPort=${dPort}`,
        'SlurmUser=root',
        'SlurmdUser=root',
        'AuthType=auth/munge',
        `AuthInfo=socket=${socket}`,
        'CredType=cred/munge',
        `StateSaveLocation=${join(d, 'state')}`,
        `SlurmdSpoolDir=${join(d, 'spool')}`,
        `SlurmctldPidFile=${join(d, 'slurmctld.pid')}`,
        `SlurmdPidFile=${join(d, 'slurmd.pid')}`,
        `SlurmctldLogFile=${join(d, 'slurmctld.log')}`,
        `SlurmdLogFile=${join(d, 'slurmd.log')}`,
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'SchedulerType=sched/builtin',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_CPU',
        'ReturnToService=2',
        'JobCompType=jobcomp/none',
        'AccountingStorageType=accounting_storage/none',
        'JobAcctGatherType=jobacct_gather/none',
        'MpiDefault=none',
        'SlurmctldDebug=info',
        'SlurmdDebug=info',
        `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${availableParallelism()} State=UNKNOWN`,
        'PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
        '',
      ].join('\n'),
    );
    this.spawnDaemon('slurmctld', ['-D', '-i', '-f', this.conf], 'slurmctld');
    this.spawnDaemon('slurmd', ['-D', '-f', this.conf, '-N', node], 'slurmd');
    await until('node idle', () => this.run('sinfo', ['-h', '-o', '%T']).stdout.trim() === 'idle', 30_000, () => this.logs());
  }

  run(cmd: string, args: string[]): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(cmd, args, { env: this.env, encoding: 'utf8' });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Submits a batch script and waits until none of its tasks is queued or running. */
  async submitAndWait(script: string, timeoutMs: number): Promise<string> {
    const r = this.run('sbatch', ['--parsable', script]);
    if (r.code !== 0) throw new Error(`sbatch failed: ${r.stderr}\n${this.logs()}`);
    const jobId = r.stdout.trim().split(';')[0]!;
    await until(`job ${jobId} to finish`, () => this.run('squeue', ['-h', '-j', jobId]).stdout.trim() === '', timeoutMs, () => this.logs());
    return jobId;
  }

  async stop(): Promise<void> {
    // Reverse start order: slurmd, slurmctld, then munged.
    for (const child of [...this.children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  }
}
