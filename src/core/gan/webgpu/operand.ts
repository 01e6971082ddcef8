/**
 * How a kernel reads one of its input tensors. Batch norm's normalisation + activation and the
 * activations' gradients are not kernels of their own: the kernel that consumes a tensor applies them
 * while it loads each value (llm.c-style fusion, but in the consumer), so a layer costs its convolution
 * and one per-channel reduction instead of four or five element-wise passes.
 *
 * All tensors are NHWC float32; a transform sees the flat element index `e`, its channel is e % C and
 * its batch-norm group (D normalises real and fake halves of one batch separately) e / groupSize.
 */
import { f32, type Binding, type GpuBuffer } from './context.ts';

export type Activation = 'linear' | 'relu' | 'tanh' | { leak: number };

/** Where a batch-norm layer's statistics and parameters live. */
export interface BatchNormRef {
  /** Channels (the last axis). */
  channels: number;
  /** Elements per group: (batch / groups) · H · W · C. */
  groupSize: number;
  /** Groups in the batch (2 for D's real + fake batch, else 1). */
  groups: number;
  /** [groups][mean C, variance C] in `stats`. */
  stats: GpuBuffer;
  statsOffset: number;
  /** [groups][Σ dŷ C, Σ dŷ·x̂ C] in `stats`, written by the gradient reduction. */
  sumsOffset: number;
  params: GpuBuffer;
  gammaOffset: number;
  betaOffset: number;
  epsilon: number;
  activation: Activation;
}

export type Operand =
  /** The stored values. */
  | { kind: 'plain'; tensor: GpuBuffer; offset?: number }
  /** act(BN(raw)) with batch statistics: the activated output of a BN layer, from its pre-BN values. */
  | { kind: 'bnAct'; raw: GpuBuffer; bn: BatchNormRef }
  /** dy · act′, the activation's derivative read from its stored output (tanh, LeakyReLU). */
  | { kind: 'actGrad'; grad: GpuBuffer; output: GpuBuffer; activation: Activation }
  /** The gradient w.r.t. a BN layer's input, from the gradient w.r.t. its activated output. */
  | { kind: 'bnGrad'; grad: GpuBuffer; raw: GpuBuffer; bn: BatchNormRef };

export function operandBindings(op: Operand): Binding[] {
  switch (op.kind) {
    case 'plain':
      return [{ buffer: op.tensor, write: false }];
    case 'bnAct':
      return [
        { buffer: op.raw, write: false },
        { buffer: op.bn.stats, write: false },
        { buffer: op.bn.params, write: false },
      ];
    case 'actGrad':
      return [
        { buffer: op.grad, write: false },
        { buffer: op.output, write: false },
      ];
    case 'bnGrad':
      return [
        { buffer: op.grad, write: false },
        { buffer: op.raw, write: false },
        { buffer: op.bn.stats, write: false },
        { buffer: op.bn.params, write: false },
      ];
  }
}

/** f(z) for a pre-activation z. */
export function activate(activation: Activation, z: string): string {
  if (activation === 'linear') return z;
  if (activation === 'relu') return `max(${z}, 0.0)`;
  if (activation === 'tanh') return `tanh(${z})`;
  return `select(${f32(activation.leak)} * ${z}, ${z}, ${z} > 0.0)`;
}

/** f′ from the pre-activation z (ReLU, LeakyReLU) or the output y (tanh: 1 − y²). */
export function activationSlope(activation: Activation, z: string, y: string): string {
  if (activation === 'linear') return '1.0';
  if (activation === 'relu') return `select(0.0, 1.0, ${z} > 0.0)`;
  if (activation === 'tanh') return `(1.0 - ${y} * ${y})`;
  return `select(${f32(activation.leak)}, 1.0, ${z} > 0.0)`;
}

/** WGSL of `fn <name>(e: u32) -> f32`; `names` maps buffers to their binding names. */
export function operandFunction(name: string, op: Operand, names: Map<GpuBuffer, string>): string {
  const n = (b: GpuBuffer) => {
    const id = names.get(b);
    if (!id) throw new Error(`buffer ${b.name} is not bound`);
    return id;
  };
  switch (op.kind) {
    case 'plain':
      return `fn ${name}(e: u32) -> f32 { return ${n(op.tensor)}[${op.offset ?? 0}u + e]; }`;
    case 'actGrad': {
      const y = `${n(op.output)}[e]`;
      // For ReLU/LeakyReLU the sign of the output is the sign of the pre-activation.
      return `fn ${name}(e: u32) -> f32 { let y = ${y}; return ${n(op.grad)}[e] * ${activationSlope(op.activation, 'y', 'y')}; }`;
    }
    case 'bnAct':
    case 'bnGrad': {
      const bn = op.bn;
      const s = n(bn.stats);
      const p = n(bn.params);
      const C = bn.channels;
      const head = `
  let c = e % ${C}u;
  let g = e / ${bn.groupSize}u;
  let mean = ${s}[${bn.statsOffset}u + g * ${2 * C}u + c];
  let rstd = inverseSqrt(${s}[${bn.statsOffset}u + g * ${2 * C}u + ${C}u + c] + ${f32(bn.epsilon)});
  let xhat = (${n(op.raw)}[e] - mean) * rstd;
  let gamma = ${p}[${bn.gammaOffset}u + c];
  let z = xhat * gamma + ${p}[${bn.betaOffset}u + c];`;
      if (op.kind === 'bnAct')
        return `fn ${name}(e: u32) -> f32 {${head}\n  return ${activate(bn.activation, 'z')};\n}`;
      const count = bn.groupSize / C;
      return `fn ${name}(e: u32) -> f32 {${head}
  let y = ${activate(bn.activation, 'z')};
  let dyhat = ${n(op.grad)}[e] * ${activationSlope(bn.activation, 'z', 'y')};
  let s1 = ${s}[${bn.sumsOffset}u + g * ${2 * C}u + c];
  let s2 = ${s}[${bn.sumsOffset}u + g * ${2 * C}u + ${C}u + c];
  return gamma * rstd * (dyhat - s1 / ${f32(count)} - xhat * s2 / ${f32(count)});
}`;
    }
  }
}
