"""nn.Sequential edited in place as torch's: seq[i] = m, del seq[i], pop, insert, extend,
with the children's names (and so the parameters' names) as torch gives them."""

from collections import OrderedDict

import numpy as np
import pytest
import torch

from tinygrad_rnn import nn


def pair(n):
    """n Identity-like modules in both libraries, told apart by their kind."""
    kinds = [("Tanh", "Tanh"), ("ReLU", "ReLU"), ("Sigmoid", "Sigmoid"), ("Identity", "Identity")]
    ours = [getattr(nn, kinds[k % 4][0])() for k in range(n)]
    theirs = [getattr(torch.nn, kinds[k % 4][1])() for k in range(n)]
    return ours, theirs


def layout(seq):
    """(name, kind) of every child, in order: what the edits must agree on."""
    return [(name, type(m).__name__) for name, m in seq.named_children()]


def both(n, named=False):
    ours, theirs = pair(n)
    if named:
        names = [f"m{k}" for k in range(n)]
        return (nn.Sequential(OrderedDict(zip(names, ours))),
                torch.nn.Sequential(OrderedDict(zip(names, theirs))))
    return nn.Sequential(*ours), torch.nn.Sequential(*theirs)


@pytest.mark.parametrize("named", [False, True])
@pytest.mark.parametrize("index", [0, 2, -1, -4])
def test_setitem_keeps_the_place_and_name(named, index):
    ours, theirs = both(4, named)
    ours[index], theirs[index] = nn.Identity(), torch.nn.Identity()
    assert layout(ours) == layout(theirs)


@pytest.mark.parametrize("named", [False, True])
@pytest.mark.parametrize("index", [0, 1, -1, slice(1, 3), slice(None, None, 2), slice(5, 9)])
def test_del_renumbers_the_rest_as_torch(named, index):
    ours, theirs = both(4, named)
    del ours[index]
    del theirs[index]
    assert layout(ours) == layout(theirs)


@pytest.mark.parametrize("index", [0, -1, slice(0, 2)])
def test_pop_returns_what_it_removed(index):
    ours, theirs = both(4, named=True)
    got, expected = ours.pop(index), theirs.pop(index)
    assert layout(ours) == layout(theirs)
    if isinstance(index, slice):
        assert layout(got) == layout(expected)
    else:
        assert type(got).__name__ == type(expected).__name__


@pytest.mark.parametrize("index", [0, 1, 3, -1, -3])
def test_insert_moves_the_rest_up_as_torch(index):
    ours, theirs = both(3)
    assert ours.insert(index, nn.Identity()) is ours
    theirs.insert(index, torch.nn.Identity())
    assert layout(ours) == layout(theirs)


def test_extend_appends_each_and_the_parameters_follow_the_names():
    ours, theirs = both(2)
    more, more_t = pair(2)
    assert ours.extend(nn.Sequential(*more)) is ours
    theirs.extend(torch.nn.Sequential(*more_t))
    assert layout(ours) == layout(theirs)
    seq = nn.Sequential(nn.Linear(2, 3), nn.Tanh())
    seq.extend([nn.Linear(3, 1)])
    seq.insert(0, nn.Linear(2, 2))
    del seq[2]
    assert [name for name, _ in seq.named_parameters()] == [
        "0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]
    x = np.ones((4, 2))
    expected = seq[2](seq[1](seq[0](x)))
    np.testing.assert_array_equal(seq(x).data, expected.data)


def test_refused_edits_change_nothing():
    seq = nn.Sequential(nn.Tanh(), nn.ReLU())
    before = layout(seq)
    with pytest.raises(IndexError, match=r"Sequential.__setitem__: index 2 is out of range"):
        seq[2] = nn.Tanh()
    with pytest.raises(TypeError, match=r"Sequential.__setitem__: expected a Module, got"):
        seq[0] = "tanh"
    with pytest.raises(IndexError, match=r"Sequential.__delitem__: index -3 is out of range"):
        del seq[-3]
    with pytest.raises(TypeError, match=r"index must be an int, got '0'"):
        del seq["0"]
    with pytest.raises(IndexError, match=r"Sequential.insert: index 3 is out of range .* "
                                         r"\(expected -2..2\)"):
        seq.insert(3, nn.Tanh())
    with pytest.raises(TypeError, match="Sequential.insert: expected a Module"):
        seq.insert(0, torch.nn.Tanh)
    with pytest.raises(TypeError, match=r"Sequential.extend: expected modules, got .* at "
                                        r"position 1"):
        seq.extend([nn.Tanh(), 3])
    with pytest.raises(IndexError):
        seq.pop(5)
    assert layout(seq) == before
    named = nn.Sequential(OrderedDict(a=nn.Tanh(), b=nn.ReLU()))
    with pytest.raises(KeyError, match=r"named '0', '1', ... in order to insert, as torch's; "
                                       r"these are named \['a', 'b'\]"):
        named.insert(0, nn.Tanh())
    t_named = torch.nn.Sequential(OrderedDict(a=torch.nn.Tanh(), b=torch.nn.ReLU()))
    with pytest.raises(KeyError):  # (torch refuses too, with less to say)
        t_named.insert(0, torch.nn.Tanh())
    assert layout(named) == [("a", "Tanh"), ("b", "ReLU")]
