import { abortable } from './abortable';

const cancelled = () => new Error('cancelled');

describe('abortable', () => {
  it('rejects at once when the signal aborts, even if the operation never settles', async () => {
    const controller = new AbortController();
    const waiting = abortable(new Promise<never>(() => {}), controller.signal, cancelled);
    setTimeout(() => controller.abort(), 20);
    await expect(waiting).rejects.toThrow('cancelled');
  });

  it('hands a value that arrives after the abort to `late`, and ignores a late failure', async () => {
    const controller = new AbortController();
    let resolveLate!: (value: string) => void;
    const late = jest.fn();
    const waiting = abortable(new Promise<string>(r => (resolveLate = r)), controller.signal, cancelled, late);
    controller.abort();
    await expect(waiting).rejects.toThrow('cancelled');
    expect(late).not.toHaveBeenCalled();
    resolveLate('upload');
    await new Promise(r => setImmediate(r));
    expect(late).toHaveBeenCalledWith('upload');

    const failing = abortable(Promise.reject(new Error('boom')), AbortSignal.abort(), cancelled, late);
    await expect(failing).rejects.toThrow('cancelled');
  });

  it('passes results and errors through while not aborted', async () => {
    const signal = new AbortController().signal;
    await expect(abortable(Promise.resolve(7), signal, cancelled)).resolves.toBe(7);
    await expect(abortable(Promise.reject(new Error('boom')), signal, cancelled)).rejects.toThrow('boom');
    await expect(abortable(Promise.resolve(8), undefined, cancelled)).resolves.toBe(8);
  });
});
