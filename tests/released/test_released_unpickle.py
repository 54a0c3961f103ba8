"""Released genotype pickles: real ones (written with a replica of the released
namedtuples, every protocol) are read as local stand-ins; planted ones that would run
code are refused with one line naming the global, and nothing runs."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest
from conftest import PickleExploit
from released_forms import (
    MMIMDB_README,
    NTU_CONFIG1,
    released_module,
    released_object,
)

from bmnas_dsl.errors import ReleasedGenotypeError
from bmnas_dsl.released import genotype as stand_ins
from bmnas_dsl.released.convert import import_data, settings_for
from bmnas_dsl.released.source import load_released
from bmnas_dsl.released.unpickle import load_genotype_pickle

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def released_pickle(printed: str, protocol: int) -> bytes:
    with released_module() as module:
        return pickle.dumps(released_object(module, printed), protocol=protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("printed", [NTU_CONFIG1, MMIMDB_README])
def test_a_released_pickle_of_every_protocol_reads_as_the_stand_ins(printed, protocol):
    data = released_pickle(printed, protocol)
    assert b"models.search.darts.genotypes" in data or protocol >= 4
    genotype = load_genotype_pickle(data, "best_genotype.pkl")
    # The local classes, not the released ones (that module is gone again).
    assert type(genotype) is stand_ins.Genotype
    assert all(type(step) is stand_ins.StepGenotype for step in genotype.steps)
    assert "models" not in sys.modules
    assert repr(genotype) == printed


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_range_concat_of_older_genotypes_becomes_a_list(protocol):
    with released_module() as module:
        value = released_object(module, NTU_CONFIG1)._replace(concat=range(8, 10))
        data = pickle.dumps(value, protocol=protocol)
    assert load_genotype_pickle(data, "g.pkl").concat == [8, 9]


def test_the_replica_really_is_what_pickle_would_need():
    # Control: with the replica gone, Python's own unpickler cannot even find the class,
    # so the stand-ins above are what made the read possible.
    data = released_pickle(NTU_CONFIG1, 4)
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(data)


class _System:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w')",))


class _Subprocess:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", self.marker],))


# Each planted payload, and the global the refusal must name.
PAYLOADS = [
    (_System, f"{os.system.__module__}.system"),  # posix.system on Linux
    (_Eval, "builtins.eval"),
    (_Subprocess, "subprocess.call"),
    (PickleExploit, f"{open.__module__}.open"),  # io.open: a reduce to another global
]


@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
@pytest.mark.parametrize("payload, name", PAYLOADS)
def test_a_planted_pickle_is_refused_naming_its_global_and_never_runs(
    payload, name, protocol, tmp_path
):
    marker = tmp_path / "pwned"
    data = pickle.dumps(payload(str(marker)), protocol=protocol)
    # Control: Python's unpickler runs it, and the marker appears.
    pickle.loads(data)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ReleasedGenotypeError) as refused:
        load_genotype_pickle(data, "best_genotype.pkl")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("best_genotype.pkl: refused: the pickle names the global")
    assert f"{name!r}" in message
    assert "nothing was run" in message
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_a_payload_inside_a_real_genotype_is_refused_too(protocol, tmp_path):
    marker = tmp_path / "pwned"
    with released_module() as module:
        real = released_object(module, NTU_CONFIG1)
        planted = real._replace(edges=[*real.edges[:3], ("skip", _System(str(marker)))])
        data = pickle.dumps(planted, protocol=protocol)
    with pytest.raises(ReleasedGenotypeError, match=r"'posix\.system'|'nt\.system'"):
        load_released(data, "g.pkl")
    assert not marker.exists()


def test_a_hand_written_protocol_0_pickle_naming_os_system(tmp_path):
    marker = tmp_path / "pwned"
    data = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    pickle.loads(data)
    assert marker.exists()
    marker.unlink()
    # It is text without a printed genotype, ending in STOP: read as a pickle.
    with pytest.raises(ReleasedGenotypeError, match=r"names the global 'os\.system';"):
        load_released(data, "g.pkl")
    assert not marker.exists()


def test_the_genotype_classes_of_another_module_are_refused():
    # `genotypes.Genotype` (a script run from inside models/search/darts) is another
    # global: named, not guessed at.
    data = b"cgenotypes\nGenotype\n(]]]tR."
    with pytest.raises(ReleasedGenotypeError, match=r"'genotypes\.Genotype'"):
        load_genotype_pickle(data, "g.pkl")


@pytest.mark.parametrize(
    "data, reason",
    [
        # copyreg._reconstructor with a base other than tuple
        (
            b"ccopy_reg\n_reconstructor\n(cmodels.search.darts.genotypes\nGenotype\n"
            b"c__builtin__\nrange\n(I1\nI2\nI3\nttR.",
            "a base other than tuple",
        ),
        (b"\x80\x02\x85.", "stack underflow"),  # TUPLE1 of nothing
        (b"\x80\x02]q\x00(K\x01K\x02e", "STOP"),  # truncated: no STOP
        (b"\x80\x02cbuiltins\ntuple\n)R.", "called as a class"),  # tuple(...)
        (b"\x80\x02h\x07.", "memo key 7"),  # a memo entry never stored
        (b"\x80\x09N.", "unsupported protocol 9"),
        # a dict key nested 200,000 tuples deep: hashing it would exhaust the stack
        (b"\x80\x02}N" + b"\x85" * 200_000 + b"Ns.", "a dict key that is not a string"),
    ],
)
def test_malformed_pickles_get_one_line(data, reason):
    with pytest.raises(ReleasedGenotypeError) as error:
        load_genotype_pickle(data, "g.pkl")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("g.pkl: not a readable genotype pickle (")
    assert reason in message


@pytest.mark.parametrize(
    "args", [b"J\xff\xff\xff\x7f\x85", b"\x8a\x09" + b"\xff" * 8 + b"\x7f\x85"]
)
def test_a_long_range_is_refused_before_it_is_built(args):
    # range(2**31 - 1), and range(2**71 - 1), whose len() Python cannot even count.
    data = b"\x80\x03cbuiltins\nrange\n" + args + b"R."
    with pytest.raises(ReleasedGenotypeError, match="a range of more than 10000"):
        load_genotype_pickle(data, "g.pkl")


@pytest.mark.parametrize(
    "data, opcode",
    [
        (b"\x80\x02K\x01Q.", "BINPERSID"),  # a persistent id
        (b"\x80\x02\x82\x01.", "EXT1"),  # the copyreg extension registry
        (b"\x80\x05\x97.", "NEXT_BUFFER"),  # out-of-band buffers
    ],
)
def test_opcodes_a_genotype_does_not_need_are_refused(data, opcode):
    with pytest.raises(ReleasedGenotypeError, match=f"uses opcode {opcode} at byte"):
        load_genotype_pickle(data, "g.pkl")


def test_a_deeply_nested_value_is_refused_without_walking_it():
    # 200,000 nested tuples: the structure checks look at one level at a time.
    data = b"\x80\x02N" + b"\x85" * 200_000 + b"."
    with pytest.raises(ReleasedGenotypeError) as error:
        import_data(data, "g.pkl", settings_for("ntu"))
    assert (
        str(error.value)
        == "g.pkl: the genotype: is a tuple of 1 item(s), not a Genotype"
    )
