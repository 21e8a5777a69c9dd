// Reverse-mode autodiff over the Tensor graph. Each differentiable op records a GradNode with its
// inputs and a closure mapping the output's gradient to one gradient per input (already reduced to
// the input's shape, so broadcast operands get the sum over their stretched dims).
import type { Tensor } from './tensor.ts';

export interface GradNode {
  name: string;
  inputs: readonly Tensor[];
  backward(dy: Tensor): readonly (Tensor | null)[];
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording a graph (optimizer steps, evaluation). */
export function noGrad<T>(fn: () => T): T {
  const before = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = before;
  }
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: deep graphs (long training loops unrolled) must not overflow the stack.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i]!;
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

/** Accumulates d(root)/d(leaf) into every leaf's `.grad`. */
export function backward(root: Tensor, gradient?: Tensor): void {
  if (!root.requiresGrad) throw new Error('backward() on a tensor that does not require grad');
  const engine = root.engine;
  const grads = new Map<Tensor, Tensor>();
  grads.set(root, gradient ?? engine.onesLike(root));
  noGrad(() => {
    for (const t of topoOrder(root)) {
      const dy = grads.get(t);
      if (!dy) continue;
      grads.delete(t);
      if (!t.gradFn) {
        // A leaf: keep its gradient beyond any tidy() scope; contiguous so optimizers read it simply.
        const g = dy.contiguous();
        dy.free();
        if (t.grad) {
          const sum = t.grad.add(g);
          t.grad.free();
          g.free();
          t.grad = engine.keep(sum);
        } else {
          t.grad = engine.keep(g);
        }
        continue;
      }
      const inputGrads = t.gradFn.backward(dy);
      t.gradFn.inputs.forEach((input, i) => {
        const g = inputGrads[i];
        if (!g || !input.requiresGrad) {
          g?.free();
          return;
        }
        const prev = grads.get(input);
        if (prev) {
          grads.set(input, prev.add(g));
          prev.free();
          g.free();
        } else {
          grads.set(input, g);
        }
      });
      if (dy !== gradient) dy.free();
      // Views in backward share storage by reference count, so freeing handles here is always safe.
    }
  });
}
