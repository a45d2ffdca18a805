"""The tensor type: an immutable numpy array with an identity the tape can follow."""

from __future__ import annotations

import itertools
import threading

import numpy as np

_next_id = itertools.count(1).__next__
# The op table (tapecli.ops), which the operators below dispatch to. tapecli.ops
# binds itself here when it loads: it builds on Tensor, so Tensor cannot import it.
_ops = None


def _as_array(value, dtype=None) -> np.ndarray:
    """`value` as an array, with TensorFlow's choice of dtype when none is given:
    numpy values and tensors keep theirs, Python ints become int32 (int64 if they do
    not fit), Python floats float64 (TensorFlow's are float32; tapecli computes
    derivatives in float64 unless asked for float32), Python bools bool."""
    if isinstance(value, Tensor):
        value = value._value
    array = np.asarray(value, dtype=dtype)
    if dtype is None and array.dtype == np.int64 and not _is_numpy(value):
        # Python ints, as in tf.constant(10); int64 stays for those beyond int32.
        info = np.iinfo(np.int32)
        if array.size == 0 or info.min <= array.min() and array.max() <= info.max:
            array = array.astype(np.int32)
    return array


def _is_numpy(value) -> bool:
    return isinstance(value, (np.ndarray, np.generic))


def weak_dtype(values) -> np.dtype | None:
    """The dtype that Python numbers, lists and numpy arrays among an op's `values`
    take, as TensorFlow converts them: that of the first floating tensor, else of
    the first integer tensor; None if no tensor is numeric."""
    found = None
    for v in values:
        if isinstance(v, Tensor):
            kind = v._value.dtype.kind
            if kind == "f":
                return v._value.dtype
            if kind in "iu" and found is None:
                found = v._value.dtype
    return found


def as_weak(value, like: np.dtype | None) -> np.ndarray:
    """A non-tensor operand of an op, converted like TensorFlow's binary ops do: to
    `like` (see weak_dtype) when the value is numeric. A float value beside an
    integer tensor stays float64, where TensorFlow raises a TypeError."""
    array = _as_array(value)
    if like is not None and array.dtype.kind in "iuf" and array.dtype != like \
            and not (array.dtype.kind == "f" and like.kind in "iu"):
        array = array.astype(like)
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
    def numpy(self) -> np.ndarray | np.generic:
        """The value as a numpy array, or a numpy scalar (np.float64(6.0)) for a
        0-d tensor, as in TensorFlow."""
        return self._value[()] if self._value.ndim == 0 else self._value

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

    def __index__(self) -> int:
        # An integer scalar serves as a shape entry or an index, as in TensorFlow
        # (tf.reshape(g, [n_params, 1])); a float one raises TypeError.
        if self._value.ndim != 0 or self._value.dtype.kind not in "iu":
            raise TypeError(f"only integer scalar tensors can be used as an index, "
                            f"not shape={self.shape}, dtype={self.dtype}")
        return int(self._value)

    def __format__(self, spec: str) -> str:
        # A scalar formats as its number: f"{loss:2.5f}".
        return format(self.numpy(), spec)

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

    def __str__(self) -> str:
        # What print() shows in TensorFlow, so a guide's printed output reads the same.
        text = str(self.numpy())
        if self._value.ndim > 1:
            text = "\n" + text
        return f"tf.Tensor({text}, shape={self.shape}, dtype={self.dtype})"

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
        # TensorFlow's full name: the enclosing name scopes, then ":0" (its output index).
        self.name = f"{_scopes.prefix}{name or 'Variable'}:0"

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

    # The delta is converted to the variable's dtype first, so that a float32
    # variable is updated in float32 arithmetic, as in TensorFlow.
    def assign_add(self, delta) -> Variable:
        return self._set(self._value + _as_array(delta, self._value.dtype))

    def assign_sub(self, delta) -> Variable:
        return self._set(self._value - _as_array(delta, self._value.dtype))

    def __str__(self) -> str:
        return repr(self)

    def __repr__(self) -> str:
        return (f"<tapecli.Variable '{self.name}' shape={self.shape} dtype={self.dtype}, "
                f"numpy={_show(self._value)}>")


class _Scopes(threading.local):
    prefix = ""  # the enclosing name scopes of this thread, "outer/inner/"


_scopes = _Scopes()


class name_scope:  # TensorFlow's name, a class used as a context
    """A context naming the Variables made inside it, as tf.name_scope: `name/` is
    added to the enclosing scope, and a name ending in "/" replaces it.
    Entering gives the full scope name ("outer/name/")."""

    def __init__(self, name: str):
        if not isinstance(name, str):
            raise TypeError(f"name_scope needs a string, not {type(name).__name__}")
        self._name = name
        self._outer: list[str] = []  # what each (possibly nested) entry replaced

    @property
    def name(self) -> str:
        return self._name

    def __enter__(self) -> str:
        outer = _scopes.prefix
        self._outer.append(outer)
        full = self._name if not self._name or self._name.endswith("/") else \
            f"{outer}{self._name}/"
        _scopes.prefix = full
        return full

    def __exit__(self, *exc_info) -> None:
        _scopes.prefix = self._outer.pop()


def _show(array: np.ndarray) -> str:
    return repr(array.item()) if array.ndim == 0 else np.array2string(array, separator=", ")


def constant(value, dtype=None, name: str | None = None) -> Tensor:
    """A tensor holding `value`, of `dtype` if given; else Python floats make float64
    (where TensorFlow makes float32), Python ints int32, and numpy values keep their
    dtype, as in TensorFlow.

    `name` is accepted for TensorFlow compatibility and ignored.
    """
    return Tensor(_as_array(value, dtype))


def convert_to_tensor(value, dtype=None) -> Tensor:
    if isinstance(value, Tensor) and dtype is None:
        return value
    return constant(value, dtype)

