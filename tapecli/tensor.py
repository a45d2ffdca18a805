"""The tensor type: an immutable numpy array with an identity the tape can follow."""

from __future__ import annotations

import itertools

import numpy as np

_next_id = itertools.count(1).__next__
# The op table (tapecli.ops), which the operators below dispatch to. tapecli.ops
# binds itself here when it loads: it builds on Tensor, so Tensor cannot import it.
_ops = None


def _as_array(value, dtype=None) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value._value
    array = np.asarray(value, dtype=dtype)
    if dtype is None and array.dtype.kind in "iuf" and array.dtype != np.float64:
        # One numeric type throughout, as the derivatives are float64 anyway.
        array = array.astype(np.float64)
    return array


class Tensor:
    """A value on (or off) the tape: a numpy array of any shape, 0-d for scalars.

    Tensors are immutable; every operation returns a new one. Arithmetic and
    comparison operators work with numbers and numpy arrays on either side.
    """

    __slots__ = ("_value", "_id", "__weakref__")
    __array_priority__ = 1000  # so ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, value, _id: int | None = None):
        self._value = value if type(value) is np.ndarray else _as_array(value)
        self._id = _next_id() if _id is None else _id

    # -- numpy-style views -------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The value as a numpy array (a 0-d array for scalars)."""
        return self._value

    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    @property
    def ndim(self) -> int:
        return self._value.ndim

    def __array__(self, dtype=None, copy=None):
        return self._value if dtype is None else self._value.astype(dtype)

    def __float__(self) -> float:
        return float(self._value)

    def __int__(self) -> int:
        return int(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __hash__(self) -> int:
        return self._id

    def __repr__(self) -> str:
        return f"<tapecli.Tensor: shape={self.shape}, dtype={self.dtype}, numpy={_show(self._value)}>"

    # -- differentiable operators ------------------------------------------
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.subtract(self, other)

    def __rsub__(self, other):
        return _ops.subtract(other, self)

    def __mul__(self, other):
        return _ops.multiply(self, other)

    def __rmul__(self, other):
        return _ops.multiply(other, self)

    def __truediv__(self, other):
        return _ops.divide(self, other)

    def __rtruediv__(self, other):
        return _ops.divide(other, self)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index=index)

    # -- comparisons: boolean tensors, never recorded ----------------------
    def __lt__(self, other):
        return _ops.less(self, other)

    def __le__(self, other):
        return _ops.less_equal(self, other)

    def __gt__(self, other):
        return _ops.greater(self, other)

    def __ge__(self, other):
        return _ops.greater_equal(self, other)

    def __eq__(self, other):
        return _ops.equal(self, other)

    def __ne__(self, other):
        return _ops.not_equal(self, other)


class Variable(Tensor):
    """A mutable tensor, watched automatically by tapes that read it (if trainable)."""

    __slots__ = ("trainable", "name")

    def __init__(self, initial_value, trainable: bool = True, name: str | None = None,
                 dtype=None):
        super().__init__(_as_array(initial_value, dtype).copy())
        self.trainable = trainable
        self.name = name or "Variable"

    def _read(self) -> Tensor:
        # A snapshot with the variable's identity: a later assign cannot change
        # what an already recorded op saw.
        return Tensor(self._value, _id=self._id)

    def value(self) -> Tensor:
        return self._read()

    read_value = value

    def _set(self, value) -> Variable:
        new = _as_array(value, self._value.dtype)
        if new.shape != self._value.shape:
            raise ValueError(f"cannot assign a value of shape {new.shape} "
                             f"to a variable of shape {self._value.shape}")
        self._value = new.copy()
        return self

    def assign(self, value) -> Variable:
        return self._set(value)

    def assign_add(self, delta) -> Variable:
        return self._set(self._value + _as_array(delta))

    def assign_sub(self, delta) -> Variable:
        return self._set(self._value - _as_array(delta))

    def __repr__(self) -> str:
        return (f"<tapecli.Variable '{self.name}' shape={self.shape}, dtype={self.dtype}, "
                f"numpy={_show(self._value)}>")


def _show(array: np.ndarray) -> str:
    return repr(array.item()) if array.ndim == 0 else np.array2string(array, separator=", ")


def constant(value, dtype=None, name: str | None = None) -> Tensor:
    """A tensor holding `value` (float64 unless `dtype` says otherwise).

    `name` is accepted for TensorFlow compatibility and ignored.
    """
    return Tensor(_as_array(value, dtype))


def convert_to_tensor(value, dtype=None) -> Tensor:
    if isinstance(value, Tensor) and dtype is None:
        return value
    return constant(value, dtype)

