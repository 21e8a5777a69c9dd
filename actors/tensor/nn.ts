// nn-style building blocks: Linear, an MLP, and the SGD / Adam optimizers. Parameters are leaf
// tensors kept outside tidy() scopes; optimizer steps run without recording a graph and swap each
// parameter's storage for the updated one (no in-place writes to buffers a pending kernel reads).
import type { Engine } from './engine.ts';
import type { Tensor } from './tensor.ts';
import { noGrad } from './autograd.ts';

export interface Module {
  forward(x: Tensor): Tensor;
  parameters(): Tensor[];
}

export class Linear implements Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  /** PyTorch's default init: U(-1/√in, 1/√in) for weight and bias. weight is [out, in]. */
  constructor(engine: Engine, readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    const bound = 1 / Math.sqrt(inFeatures);
    const init = (shape: number[]): Tensor =>
      engine.keep(engine.tidy(() => engine.rand(shape).mul(2 * bound).sub(bound)).requiresGrad_());
    this.weight = init([outFeatures, inFeatures]);
    this.bias = bias ? init([outFeatures]) : null;
  }

  forward(x: Tensor): Tensor {
    const y = x.matmul(this.weight.T);
    return this.bias ? y.add(this.bias) : y;
  }

  parameters(): Tensor[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }
}

export type Activation = 'relu' | 'tanh' | 'gelu' | 'silu' | 'sigmoid';

export class MLP implements Module {
  readonly layers: Linear[] = [];

  /** sizes: [in, hidden…, out]; the activation follows every layer but the last. */
  constructor(engine: Engine, sizes: readonly number[], readonly activation: Activation = 'relu') {
    for (let i = 0; i + 1 < sizes.length; i++) this.layers.push(new Linear(engine, sizes[i]!, sizes[i + 1]!));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    this.layers.forEach((layer, i) => {
      h = layer.forward(h);
      if (i < this.layers.length - 1) h = h.unary(this.activation);
    });
    return h;
  }

  parameters(): Tensor[] {
    return this.layers.flatMap((l) => l.parameters());
  }
}

export function mseLoss(prediction: Tensor, target: Tensor): Tensor {
  const d = prediction.sub(target);
  return d.mul(d).mean();
}

/** Cross-entropy of logits [N, C] against one-hot targets [N, C]. */
export function crossEntropyOneHot(logits: Tensor, oneHot: Tensor): Tensor {
  return logits.logSoftmax(-1).mul(oneHot).sum(-1).mean().neg();
}

export abstract class Optimizer {
  constructor(protected readonly params: readonly Tensor[]) {}

  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.free();
      p.grad = null;
    }
  }

  step(): void {
    const engine = this.params[0]?.engine;
    if (!engine) return;
    noGrad(() => engine.tidy(() => this.params.forEach((p, i) => p.grad && this.update(p, p.grad, i))));
  }

  protected abstract update(param: Tensor, grad: Tensor, index: number): void;

  protected replace(param: Tensor, value: Tensor): void {
    param.assign(param.engine.keep(value));
  }
}

export class SGD extends Optimizer {
  private velocity: (Tensor | null)[] = [];

  constructor(params: readonly Tensor[], readonly lr = 0.01, readonly momentum = 0) {
    super(params);
  }

  protected update(p: Tensor, g: Tensor, i: number): void {
    let step = g;
    if (this.momentum) {
      const prev = this.velocity[i];
      step = prev ? prev.mul(this.momentum).add(g) : g.clone();
      prev?.free();
      this.velocity[i] = p.engine.keep(step);
    }
    this.replace(p, p.sub(step.mul(this.lr)));
  }
}

export class Adam extends Optimizer {
  private m: (Tensor | null)[] = [];
  private v: (Tensor | null)[] = [];
  private t = 0;

  constructor(params: readonly Tensor[], readonly lr = 1e-3, readonly betas: [number, number] = [0.9, 0.999], readonly eps = 1e-8) {
    super(params);
  }

  override step(): void {
    this.t++;
    super.step();
  }

  protected update(p: Tensor, g: Tensor, i: number): void {
    const [b1, b2] = this.betas;
    const m = this.m[i] ? this.m[i]!.mul(b1).add(g.mul(1 - b1)) : g.mul(1 - b1);
    const v = this.v[i] ? this.v[i]!.mul(b2).add(g.mul(g).mul(1 - b2)) : g.mul(g).mul(1 - b2);
    this.m[i]?.free();
    this.v[i]?.free();
    this.m[i] = p.engine.keep(m);
    this.v[i] = p.engine.keep(v);
    const mHat = m.div(1 - b1 ** this.t);
    const vHat = v.div(1 - b2 ** this.t);
    this.replace(p, p.sub(mHat.div(vHat.sqrt().add(this.eps)).mul(this.lr)));
  }

  /** Frees the optimizer state. */
  dispose(): void {
    [...this.m, ...this.v].forEach((t) => t?.free());
    this.m = [];
    this.v = [];
  }
}
