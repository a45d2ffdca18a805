"""Small optimizers with Keras's names and update rules, for training loops on a GradientTape.

An optimizer turns `(gradient, variable)` pairs into in-place variable updates.
The updates run on plain numpy arrays: they are not part of any derivative, so
nothing here is recorded on a tape.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .tensor import Tensor, Variable


class Optimizer:
    """The shared part: pairing gradients with variables, per-variable state, the step count."""

    def __init__(self, learning_rate: float):
        self.learning_rate = float(learning_rate)
        self.iterations = 0  # apply_gradients calls so far, as Keras counts them
        # Per-variable state (momentum, moments), keyed by the variable object itself:
        # Variables hash by identity.
        self._slots: dict[Variable, dict[str, np.ndarray]] = {}

    def apply_gradients(self, grads_and_vars: Iterable[tuple]) -> int:
        """Update each variable from its gradient; pairs whose gradient is None are skipped.

        Returns the number of steps taken so far (this one included).
        """
        pairs = []
        for grad, variable in grads_and_vars:
            if grad is None:
                continue  # TensorFlow skips unconnected variables
            if not isinstance(variable, Variable):
                raise TypeError(f"can only update Variables, not {type(variable).__name__}")
            grad = np.asarray(grad._value if isinstance(grad, Tensor) else grad, np.float64)
            if grad.shape != variable.shape:
                raise ValueError(f"gradient of shape {grad.shape} for a variable of "
                                 f"shape {variable.shape}")
            pairs.append((grad, variable))
        self.iterations += 1
        for grad, variable in pairs:
            slots = self._slots.setdefault(variable, {})
            variable.assign_sub(self._step(grad, variable, slots))
        return self.iterations

    def _step(self, grad: np.ndarray, variable: Variable, slots: dict) -> np.ndarray:
        """The amount to subtract from `variable` (whose state is `slots`) this step."""
        raise NotImplementedError


class SGD(Optimizer):
    """Gradient descent, with optional momentum: `v = momentum*v - lr*g; w += v` (Keras)."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0):
        super().__init__(learning_rate)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be between 0 and 1, got {momentum}")
        self.momentum = float(momentum)

    def _step(self, grad, variable, slots):
        if self.momentum == 0.0:
            return self.learning_rate * grad
        # The step is Keras's velocity with its sign flipped, so it can be subtracted.
        step = self.momentum * slots.get("step", 0.0) + self.learning_rate * grad
        slots["step"] = step
        return step


class Adam(Optimizer):
    """Adam with Keras's bias correction: the learning rate is scaled by
    `sqrt(1 - beta_2**t) / (1 - beta_1**t)` and epsilon is added to `sqrt(v)`.
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7):
        super().__init__(learning_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def _step(self, grad, variable, slots):
        t = self.iterations
        m = slots.get("m", 0.0) + (grad - slots.get("m", 0.0)) * (1.0 - self.beta_1)
        v = slots.get("v", 0.0) + (grad * grad - slots.get("v", 0.0)) * (1.0 - self.beta_2)
        slots["m"], slots["v"] = m, v
        alpha = self.learning_rate * np.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        return alpha * m / (np.sqrt(v) + self.epsilon)
