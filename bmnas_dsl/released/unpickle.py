"""Read a released `best_genotype.pkl` without Python's unpickler.

`pickle.load` calls whatever callable a file names (`os.system`, `builtins.eval`, ...),
so it never sees these files. Instead, `pickletools.genops` splits the file into opcodes
(it only decodes them), and this module runs them on a small stack machine that knows
the containers and scalars and exactly these globals:

- `models.search.darts.genotypes.Genotype` and `.StepGenotype`, mapped to the local
  stand-ins of `genotype.py`;
- for protocols 0 and 1, which rebuild namedtuples through
  `copyreg._reconstructor(cls, tuple, state)`: that function and `tuple`, accepted
  only in that one call with one of the two stand-ins;
- `range` (older genotypes pickle `concat=range(8, 10)`), which becomes a short list.

Any other global ends the read with one line naming it, before anything after it is
even decoded; an opcode outside this set (persistent ids, the extension registry,
buffers) ends it too. Nothing is imported and nothing is called but the stand-ins'
constructors and `range`: a planted pickle has no code to run.
"""

from __future__ import annotations

import pickletools

# Python 2 module and function names -> Python 3's, as pickle's fix_imports maps them:
# only to name a refused global as a reader knows it (`subprocess.call`, which protocols
# 0-2 write as `commands.call`).
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from collections.abc import Iterator
from typing import Any

from bmnas_dsl.errors import ReleasedGenotypeError
from bmnas_dsl.released.genotype import NAMEDTUPLES, RELEASED_MODULE, bounded_range

# The newest pickle protocol (Python 3.8 and later); pickletools decodes all of 0..5.
MAX_PROTOCOL = 5


class _Global:
    """A global the file may name; `role` says what it may be used for."""

    def __init__(self, name: str, role: str, value: Any = None) -> None:
        self.name, self.role, self.value = name, role, value


_GLOBALS = {
    **{
        (RELEASED_MODULE, name): _Global(f"{RELEASED_MODULE}.{name}", "class", cls)
        for name, cls in NAMEDTUPLES.items()
    },
    # Python 2 spellings are what protocols 0-2 write (pickle's fix_imports).
    ("copyreg", "_reconstructor"): _Global("copyreg._reconstructor", "reconstructor"),
    ("copy_reg", "_reconstructor"): _Global("copyreg._reconstructor", "reconstructor"),
    ("builtins", "tuple"): _Global("builtins.tuple", "tuple base"),
    ("__builtin__", "tuple"): _Global("builtins.tuple", "tuple base"),
    ("builtins", "range"): _Global("builtins.range", "range"),
    ("__builtin__", "xrange"): _Global("builtins.range", "range"),
    ("__builtin__", "range"): _Global("builtins.range", "range"),
}
_ALLOWED = (
    f"{RELEASED_MODULE}.Genotype and .StepGenotype (with copyreg._reconstructor, "
    "tuple and range)"
)


_SCALARS = (str, int, float, bool, bytes, type(None))


class _Malformed(Exception):
    """The opcodes do not build a value (a bad stack, a wrong argument)."""


def load_genotype_pickle(data: bytes, source: str) -> object:
    """The object a released pickle holds, built from stand-ins; ReleasedGenotypeError
    when it names a global other than the allowed ones (message: that global), uses an
    opcode outside the allowed set, or is not a pickle."""
    try:
        return _Machine(source).run(pickletools.genops(data))
    except ReleasedGenotypeError:
        raise
    except (_Malformed, ValueError, TypeError, OverflowError) as exc:
        # genops raises ValueError for a truncated or unknown opcode.
        raise ReleasedGenotypeError(
            f"{source}: not a readable genotype pickle ({_reason(exc)})"
        ) from None


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


class _Machine:
    """The stack machine of pickle.py's Unpickler, for the opcodes a genotype needs."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []  # the stacks saved by MARK
        self.memo: dict[int, Any] = {}

    def run(self, opcodes: Iterator[tuple[Any, Any, int | None]]) -> object:
        for opcode, arg, position in opcodes:
            name = opcode.name
            if name == "STOP":
                return self.pop()
            handler = getattr(self, f"op_{name}", None)
            if handler is None:
                raise ReleasedGenotypeError(
                    f"{self.source}: refused: the pickle uses opcode {name} at byte "
                    f"{position}, which a genotype pickle does not need; nothing was run"
                )
            handler(arg)
        raise _Malformed("no STOP opcode")

    # -- stack helpers -----------------------------------------------------------------

    def pop(self) -> Any:
        if not self.stack:
            raise _Malformed("stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        """The values pushed since the last MARK; the stack before it comes back."""
        if not self.marks:
            raise _Malformed("no MARK")
        items = self.stack
        self.stack = self.marks.pop()
        return items

    def push(self, value: Any) -> None:
        self.stack.append(value)

    # -- framing, marks and the memo ---------------------------------------------------

    def op_PROTO(self, arg: int) -> None:
        if arg > MAX_PROTOCOL:
            raise _Malformed(f"unsupported protocol {arg}")

    def op_FRAME(self, arg: int) -> None:
        pass  # genops reads framed opcodes as if unframed

    def op_MARK(self, arg: None) -> None:
        self.marks.append(self.stack)
        self.stack = []

    def op_POP(self, arg: None) -> None:
        if self.stack:
            self.stack.pop()
        else:  # as pickle.py: POP on an empty stack drops the last MARK
            self.pop_mark()

    def op_POP_MARK(self, arg: None) -> None:
        self.pop_mark()

    def op_DUP(self, arg: None) -> None:
        value = self.pop()
        self.push(value)
        self.push(value)

    def op_PUT(self, arg: int) -> None:
        if not self.stack:
            raise _Malformed("memo store from an empty stack")
        self.memo[arg] = self.stack[-1]

    op_BINPUT = op_LONG_BINPUT = op_PUT

    def op_MEMOIZE(self, arg: None) -> None:
        self.op_PUT(len(self.memo))

    def op_GET(self, arg: int) -> None:
        if arg not in self.memo:
            raise _Malformed(f"memo key {arg} was never stored")
        self.push(self.memo[arg])

    op_BINGET = op_LONG_BINGET = op_GET

    # -- scalars -----------------------------------------------------------------------

    def op_value(self, arg: Any) -> None:
        self.push(arg)  # genops has decoded the argument already

    op_INT = op_BININT = op_BININT1 = op_BININT2 = op_value
    op_LONG = op_LONG1 = op_LONG4 = op_value
    op_FLOAT = op_BINFLOAT = op_value
    op_STRING = op_BINSTRING = op_SHORT_BINSTRING = op_value
    op_UNICODE = op_BINUNICODE = op_SHORT_BINUNICODE = op_BINUNICODE8 = op_value
    op_BINBYTES = op_SHORT_BINBYTES = op_BINBYTES8 = op_value

    def op_NONE(self, arg: None) -> None:
        self.push(None)

    def op_NEWTRUE(self, arg: None) -> None:
        self.push(True)

    def op_NEWFALSE(self, arg: None) -> None:
        self.push(False)

    # -- containers --------------------------------------------------------------------

    def op_EMPTY_LIST(self, arg: None) -> None:
        self.push([])

    def op_EMPTY_TUPLE(self, arg: None) -> None:
        self.push(())

    def op_EMPTY_DICT(self, arg: None) -> None:
        self.push({})

    def op_LIST(self, arg: None) -> None:
        self.push(list(self.pop_mark()))

    def op_TUPLE(self, arg: None) -> None:
        self.push(tuple(self.pop_mark()))

    def op_TUPLE1(self, arg: None) -> None:
        self.push((self.pop(),))

    def op_TUPLE2(self, arg: None) -> None:
        second = self.pop()
        self.push((self.pop(), second))

    def op_TUPLE3(self, arg: None) -> None:
        third, second = self.pop(), self.pop()
        self.push((self.pop(), second, third))

    def op_APPEND(self, arg: None) -> None:
        value = self.pop()
        self._list_on_top().append(value)

    def op_APPENDS(self, arg: None) -> None:
        values = self.pop_mark()
        self._list_on_top().extend(values)

    def op_DICT(self, arg: None) -> None:
        self.push(dict(self._items(self.pop_mark())))

    def op_SETITEM(self, arg: None) -> None:
        value, key = self.pop(), self.pop()
        self._dict_on_top().update(self._items([key, value]))

    def op_SETITEMS(self, arg: None) -> None:
        self._dict_on_top().update(self._items(self.pop_mark()))

    def _items(self, flat: list[Any]) -> list[tuple[Any, Any]]:
        """Key-value pairs with scalar keys only: hashing a container key recurses
        through it, and a planted key nested a million deep would exhaust the stack."""
        if len(flat) % 2:
            raise _Malformed("a dict with an odd number of items")
        keys = flat[::2]
        if not all(type(key) in _SCALARS for key in keys):
            raise _Malformed("a dict key that is not a string or a number")
        return list(zip(keys, flat[1::2], strict=True))

    def _list_on_top(self) -> list[Any]:
        # type() is exact: a stand-in namedtuple is a tuple, never appended to.
        if not self.stack or type(self.stack[-1]) is not list:
            raise _Malformed("APPEND to something that is not a list")
        return self.stack[-1]

    def _dict_on_top(self) -> dict[Any, Any]:
        if not self.stack or type(self.stack[-1]) is not dict:
            raise _Malformed("SETITEM on something that is not a dict")
        return self.stack[-1]

    # -- globals and the objects they build ------------------------------------------

    def resolve(self, module: object, name: object) -> _Global:
        """The allowed global `module.name`, or the one-line refusal naming it."""
        if not isinstance(module, str) or not isinstance(name, str):
            raise _Malformed("a global whose module or name is not a string")
        found = _GLOBALS.get((module, name))
        if found is None:
            raise ReleasedGenotypeError(
                f"{self.source}: refused: the pickle names the global "
                f"{_python3_name(module, name)}; a released genotype may only name "
                f"{_ALLOWED}; nothing was run"
            )
        return found

    def op_GLOBAL(self, arg: str) -> None:
        module, _, name = arg.partition(" ")
        self.push(self.resolve(module, name))

    def op_STACK_GLOBAL(self, arg: None) -> None:
        name, module = self.pop(), self.pop()
        self.push(self.resolve(module, name))

    def op_INST(self, arg: str) -> None:
        module, _, name = arg.partition(" ")
        cls = self.resolve(module, name)
        self.push(self.construct(cls, tuple(self.pop_mark())))

    def op_OBJ(self, arg: None) -> None:
        items = self.pop_mark()
        if not items:
            raise _Malformed("OBJ without a class")
        self.push(self.construct(items[0], tuple(items[1:])))

    def op_NEWOBJ(self, arg: None) -> None:
        args, cls = self.pop(), self.pop()
        if not isinstance(args, tuple):
            raise _Malformed("NEWOBJ arguments are not a tuple")
        self.push(self.construct(cls, args))

    def op_NEWOBJ_EX(self, arg: None) -> None:
        kwargs, args, cls = self.pop(), self.pop(), self.pop()
        if not isinstance(args, tuple) or type(kwargs) is not dict:
            raise _Malformed("NEWOBJ_EX arguments are not a tuple and a dict")
        self.push(self.construct(cls, args, kwargs))

    def op_REDUCE(self, arg: None) -> None:
        args, func = self.pop(), self.pop()
        if not isinstance(args, tuple):
            raise _Malformed("REDUCE arguments are not a tuple")
        if isinstance(func, _Global) and func.role == "reconstructor":
            self.push(self.reconstruct(args))
        elif isinstance(func, _Global) and func.role == "range":
            self.push(_short_range(args))
        else:
            self.push(self.construct(func, args))

    def op_BUILD(self, arg: None) -> None:
        # A namedtuple has no state beyond its fields: only an empty one is accepted.
        state = self.pop()
        if state not in (None, {}) or not self.stack:
            raise _Malformed("BUILD with a state, which a genotype does not have")

    def construct(
        self, cls: object, args: tuple[Any, ...], kwargs: dict[Any, Any] | None = None
    ) -> object:
        """A stand-in built from its fields (positional or by name)."""
        if not isinstance(cls, _Global) or cls.role != "class":
            what = cls.name if isinstance(cls, _Global) else type(cls).__name__
            raise _Malformed(f"{what} called as a class")
        kwargs = kwargs or {}
        if not all(isinstance(key, str) for key in kwargs):
            raise _Malformed("keyword arguments that are not names")
        try:
            return cls.value(*args, **kwargs)
        except TypeError as exc:  # wrong fields: say which class, not a traceback
            raise _Malformed(f"{cls.name}: {exc}") from None

    def reconstruct(self, args: tuple[Any, ...]) -> object:
        """copyreg._reconstructor(cls, tuple, fields): protocols 0 and 1."""
        if len(args) != 3:
            raise _Malformed("copyreg._reconstructor takes three arguments")
        cls, base, fields = args
        if not isinstance(base, _Global) or base.role != "tuple base":
            raise _Malformed("copyreg._reconstructor with a base other than tuple")
        if not isinstance(fields, tuple):
            raise _Malformed("copyreg._reconstructor state is not a tuple")
        return self.construct(cls, fields)


def _python3_name(module: str, name: str) -> str:
    """'subprocess.call', with the spelling of the file when it differs."""
    written = f"{module}.{name}"
    new_module, new_name = NAME_MAPPING.get(
        (module, name), (IMPORT_MAPPING.get(module, module), name)
    )
    shown = f"{new_module}.{new_name}"
    if len(shown) > 100:  # a planted name may be long; the start says enough
        return repr(shown[:97] + "...")
    if shown == written:
        return repr(shown)
    return f"{shown!r} (written {written!r}, its Python 2 name)"


def _short_range(args: tuple[Any, ...]) -> list[int]:
    if not 1 <= len(args) <= 3 or any(type(a) is not int for a in args):
        raise _Malformed("range() takes one to three integers")
    try:
        return bounded_range(args)
    except ValueError as exc:  # a zero step, or too many values
        raise _Malformed(str(exc)) from None
