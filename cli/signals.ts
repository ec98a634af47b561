// Stop requests by signal. The CLI catches them from its first moment (cli/early-signals.ts, imported first),
// so a SIGINT/SIGTERM during start-up (EAL, ports, shards) is held until the runner can stop cleanly.
type Listener = (count: number, signal: NodeJS.Signals) => void;

let count = 0;
let listener: Listener | null = null;
const early: NodeJS.Signals[] = [];

function onSignal(signal: NodeJS.Signals): void {
  count++;
  if (listener) listener(count, signal);
  else early.push(signal);
}

/** Installs the handlers (idempotent). */
export function catchStopSignals(): void {
  if (process.listeners('SIGINT').includes(onSignal)) return;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Delivers signals to `fn` (with the running count); signals that came before are delivered at once. */
export function onStopSignal(fn: Listener): () => void {
  catchStopSignals();
  listener = fn;
  let n = count - early.length;
  for (const s of early.splice(0)) fn(++n, s);
  return () => {
    if (listener !== fn) return;
    listener = null;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
