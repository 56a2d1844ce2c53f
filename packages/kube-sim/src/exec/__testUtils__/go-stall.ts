/*
 * Test-only: runs a real (stripped) Go binary under gdb and stalls every call of one of
 * its functions, in the calling thread only, while the binary's other threads keep
 * running. This forces a client-side interleaving deterministically, e.g. kubectl's
 * WebSocket read loop running ahead of its stream creation.
 *
 * Needs gdb with Python (Debian package `gdb`).
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/**
 * The entry address of a function, found by name in the binary's .gopclntab (Go ≥ 1.20 layout),
 * which a Go binary keeps even when its ELF symbols are stripped.
 */
export async function goFunctionAddress(binary: string, name: string): Promise<bigint> {
  const data = await fs.readFile(binary);
  const section = elfSection(data, '.gopclntab');
  const magic = data.readUInt32LE(section);
  if (magic !== 0xfffffff1 && magic !== 0xfffffff0) throw new Error(`${binary}: unknown pclntab magic ${magic.toString(16)}`);
  const word = (i: number) => data.readBigUInt64LE(section + 8 + 8 * i);
  const nfunc = Number(word(0));
  const textStart = word(2);
  const funcnameTab = section + Number(word(3));
  const pcln = section + Number(word(7));
  const wanted = Buffer.from(`${name}\0`);
  for (let i = 0; i < nfunc; i++) {
    const entryOff = data.readUInt32LE(pcln + 8 * i);
    const funcOff = data.readUInt32LE(pcln + 8 * i + 4);
    const nameOff = data.readInt32LE(pcln + funcOff + 4);
    const at = funcnameTab + nameOff;
    if (data.compare(wanted, 0, wanted.length, at, at + wanted.length) === 0) return textStart + BigInt(entryOff);
  }
  throw new Error(`${binary}: no function ${name}`);
}

/** File offset of a 64-bit little-endian ELF section. */
function elfSection(data: Buffer, name: string): number {
  const shoff = Number(data.readBigUInt64LE(0x28));
  const shentsize = data.readUInt16LE(0x3a);
  const shnum = data.readUInt16LE(0x3c);
  const strtab = Number(data.readBigUInt64LE(shoff + data.readUInt16LE(0x3e) * shentsize + 0x18));
  for (let i = 0; i < shnum; i++) {
    const sh = shoff + i * shentsize;
    const nameAt = strtab + data.readUInt32LE(sh);
    if (data.toString('latin1', nameAt, nameAt + name.length + 1) === `${name}\0`) return Number(data.readBigUInt64LE(sh + 0x18));
  }
  throw new Error(`no ELF section ${name}`);
}

// gdb in non-stop mode: a breakpoint stops only the thread that hits it; a timer resumes it.
const GDB_SCRIPT = `
import gdb, json, os, shlex, threading
gdb.execute('set pagination off')
gdb.execute('set confirm off')
gdb.execute('set non-stop on')
gdb.execute('handle all nostop noprint pass')
bp = gdb.Breakpoint('*' + os.environ['GO_STALL_ADDRESS'], internal=True)
bp.silent = True
stall = float(os.environ['GO_STALL_SECONDS'])
hits = 0
def resume(num):
    def go():
        for t in gdb.selected_inferior().threads():
            if t.num == num and t.is_valid() and t.is_stopped():
                t.switch()
                gdb.execute('continue &')
    gdb.post_event(go)
def on_stop(ev):
    global hits
    if isinstance(ev, gdb.BreakpointEvent):
        hits += 1
        threading.Timer(stall, resume, [gdb.selected_thread().num]).start()
def on_exit(ev):
    code = getattr(ev, 'exit_code', 1)
    with open(os.environ['GO_STALL_STDERR'] + '.hits', 'w') as f:
        f.write(str(hits))
    gdb.post_event(lambda: gdb.execute('quit %d' % code))
gdb.events.stop.connect(on_stop)
gdb.events.exited.connect(on_exit)
# gdb starts the program through the shell: quote every argument and redirect the output
args = ' '.join(shlex.quote(a) for a in json.loads(os.environ['GO_STALL_ARGS']))
out, err = shlex.quote(os.environ['GO_STALL_STDOUT']), shlex.quote(os.environ['GO_STALL_STDERR'])
gdb.execute('run %s < /dev/null > %s 2> %s &' % (args, out, err))
`;

export interface StalledRun {
  code: number | null;
  stdout: Buffer;
  /** The program's stderr (gdb's own output is kept apart). */
  stderr: string;
  /** How many calls of the function were stalled. */
  stalledCalls: number;
}

/** Runs `binary args…`, stalling every call of the function at `address` by `seconds`. */
export async function runWithStalledFunction(
  binary: string,
  args: string[],
  opts: { address: bigint; seconds: number; dir: string; env?: NodeJS.ProcessEnv },
): Promise<StalledRun> {
  const script = path.join(opts.dir, 'go-stall.py');
  const stdoutFile = path.join(opts.dir, 'go-stall.stdout');
  const stderrFile = path.join(opts.dir, 'go-stall.stderr');
  await fs.writeFile(script, GDB_SCRIPT);
  const { code, gdbOutput } = await new Promise<{ code: number | null; gdbOutput: string }>((resolve, reject) => {
    const p = spawn('gdb', ['-nx', '-q', '-x', script, binary], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...(opts.env ?? process.env),
        GO_STALL_ADDRESS: `0x${opts.address.toString(16)}`,
        GO_STALL_SECONDS: String(opts.seconds),
        GO_STALL_ARGS: JSON.stringify(args),
        GO_STALL_STDOUT: stdoutFile,
        GO_STALL_STDERR: stderrFile,
      },
    });
    let output = '';
    p.stdout.on('data', d => (output += d));
    p.stderr.on('data', d => (output += d));
    p.on('error', reject);
    p.on('close', c => resolve({ code: c, gdbOutput: output }));
    // gdb reads commands from stdin once the script has started the program: end of input
    // would make it quit and kill the program, so stdin stays open until gdb exits.
    p.stdin.on('error', () => undefined);
  });
  const read = (f: string) => fs.readFile(f).catch(() => {
    throw new Error(`gdb did not run the program: ${gdbOutput}`);
  });
  return {
    code,
    stdout: await read(stdoutFile),
    stderr: (await read(stderrFile)).toString(),
    stalledCalls: Number((await read(`${stderrFile}.hits`)).toString()),
  };
}
