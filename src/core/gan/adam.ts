import * as tf from '@tensorflow/tfjs';

/** Named trainable (or statistics) variables: a network's parameters, and what Adam updates. */
export type ParamSet = Map<string, tf.Variable>;

export interface AdamOptions {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon?: number;
}

/**
 * Adam with its whole state in plain sight (first/second moments per parameter and the step count), so
 * checkpoints save and restore it exactly. Bias correction is computed from the step count in float64,
 * which makes a resumed run bit-identical to an uninterrupted one.
 */
export class Adam {
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  /** Number of updates applied so far. */
  step = 0;
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;

  constructor(
    readonly params: ParamSet,
    options: AdamOptions,
  ) {
    this.learningRate = options.learningRate;
    this.beta1 = options.beta1;
    this.beta2 = options.beta2;
    this.epsilon = options.epsilon ?? 1e-8;
    for (const [name, p] of params) {
      this.m.set(
        name,
        tf.tidy(() => tf.variable(tf.zerosLike(p), false)),
      );
      this.v.set(
        name,
        tf.tidy(() => tf.variable(tf.zerosLike(p), false)),
      );
    }
  }

  /** Applies one update. `grads` must hold a gradient for every parameter; it is not disposed here. */
  apply(grads: ReadonlyMap<string, tf.Tensor>): void {
    const t = this.step + 1;
    const lrT = (this.learningRate * Math.sqrt(1 - this.beta2 ** t)) / (1 - this.beta1 ** t);
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g = grads.get(name);
        if (!g) throw new Error(`Adam: no gradient for ${name}`);
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(m.mul(this.beta1).add(g.mul(1 - this.beta1)));
        v.assign(v.mul(this.beta2).add(g.square().mul(1 - this.beta2)));
        p.assign(p.sub(m.mul(lrT).div(v.sqrt().add(this.epsilon))));
      }
    });
    this.step = t;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
