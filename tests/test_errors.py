"""Every clear error of the engine: the type, and what the message says.

An error is "ours" when its message starts with the op's name and no numpy
exception is chained behind it: the user sees one sentence in their own terms,
not a traceback from deep inside numpy.
"""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor


def ones(*shape, requires_grad=False):
    return Tensor(np.ones(shape), requires_grad=requires_grad)


def assert_ours(err: BaseException, op: str) -> str:
    """The message starts with the op's name and hides any numpy exception behind it."""
    message = str(err)
    assert message.startswith(f"{op}:"), message
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__
    return message


# --------------------------------------------------------------------------- broadcasting


@pytest.mark.parametrize("op, fn", [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b), ("div", lambda a, b: a / b),
])
@pytest.mark.parametrize("shape_a, shape_b", [((2, 3), (4,)), ((3, 1, 5), (2, 4))])
def test_broadcasting_mismatch_names_the_op_and_both_shapes(op, fn, shape_a, shape_b):
    with pytest.raises(tr.ShapeError) as info:
        fn(ones(*shape_a, requires_grad=True), ones(*shape_b))
    assert isinstance(info.value, ValueError)  # ShapeError is a ValueError, as numpy's is
    message = assert_ours(info.value, op)
    assert str(shape_a) in message and str(shape_b) in message
    assert "broadcast" in message


@pytest.mark.parametrize("op, fn", [("addcmul", tr.addcmul), ("lerp", tr.lerp)])
@pytest.mark.parametrize("shapes", [((2, 3), (3,), (4,)), ((2, 1), (3, 2), (2, 3))])
def test_three_input_broadcasting_mismatch_names_the_op_and_all_shapes(op, fn, shapes):
    with pytest.raises(tr.ShapeError) as info:
        fn(*(ones(*shape, requires_grad=True) for shape in shapes))
    message = assert_ours(info.value, op)
    assert all(str(shape) in message for shape in shapes) and "broadcast" in message


def test_addcmul_value_must_be_a_number():
    with pytest.raises(TypeError, match="addcmul: value must be a number"):
        tr.addcmul(ones(2), ones(2), ones(2), value=ones(2))


def test_broadcasting_mismatch_with_a_plain_array_operand():
    with pytest.raises(tr.ShapeError) as info:
        ones(2, 3) + np.ones((3, 2))
    message = assert_ours(info.value, "add")
    assert "(2, 3)" in message and "(3, 2)" in message


# --------------------------------------------------------------------------- matmul


def test_matmul_core_dimensions_mismatch():
    with pytest.raises(tr.ShapeError) as info:
        ones(2, 3) @ ones(4, 5)
    message = assert_ours(info.value, "matmul")
    assert "(2, 3)" in message and "(4, 5)" in message
    assert "3 columns" in message and "4 rows" in message


def test_matmul_vector_mismatch():
    with pytest.raises(tr.ShapeError) as info:
        ones(3) @ ones(4)
    message = assert_ours(info.value, "matmul")
    assert "(3,)" in message and "(4,)" in message


def test_matmul_batch_dimensions_mismatch():
    with pytest.raises(tr.ShapeError) as info:
        ones(2, 2, 3) @ ones(5, 3, 4)
    message = assert_ours(info.value, "matmul")
    assert "(2, 2, 3)" in message and "(5, 3, 4)" in message and "batch" in message


def test_matmul_with_a_0d_operand():
    with pytest.raises(tr.ShapeError) as info:
        ones(2, 3) @ Tensor(2.0)
    message = assert_ours(info.value, "matmul")
    assert "()" in message and "use *" in message


@pytest.mark.parametrize("mat1, mat2", [((2, 3), (4, 5)), ((3,), (3, 2)), ((2, 2, 3), (3, 2))])
def test_addmm_needs_two_aligned_matrices(mat1, mat2):
    with pytest.raises(tr.ShapeError) as info:
        tr.addmm(ones(2), ones(*mat1, requires_grad=True), ones(*mat2))
    message = assert_ours(info.value, "addmm")
    assert str(mat1) in message and str(mat2) in message and "2-D" in message


@pytest.mark.parametrize("input_shape", [(5,), (3, 2), (4, 2, 2)])
def test_addmm_input_must_broadcast_to_the_product(input_shape):
    # (4, 2, 2) broadcasts with the (2, 2) product, but to a bigger shape: torch refuses it too
    with pytest.raises(tr.ShapeError) as info:
        tr.addmm(ones(*input_shape), ones(2, 3, requires_grad=True), ones(3, 2))
    message = assert_ours(info.value, "addmm")
    assert str(input_shape) in message and "(2, 2)" in message


# --------------------------------------------------------------------------- joining and splitting


def test_concat_names_the_shapes():
    with pytest.raises(tr.ShapeError) as info:
        tr.concat([ones(2, 3), ones(3, 2)], dim=0)
    message = assert_ours(info.value, "concat")
    assert "(2, 3)" in message and "(3, 2)" in message


def test_concat_of_different_ranks():
    with pytest.raises(tr.ShapeError) as info:
        tr.concat([ones(2, 3), ones(3)])
    message = assert_ours(info.value, "concat")
    assert "(2, 3)" in message and "(3,)" in message


@pytest.mark.parametrize("fn, op", [(tr.concat, "concat"), (tr.stack, "stack")])
def test_joining_nothing(fn, op):
    with pytest.raises(ValueError) as info:
        fn([])
    assert "at least one tensor" in assert_ours(info.value, op)


def test_stack_needs_equal_shapes():
    with pytest.raises(tr.ShapeError) as info:
        tr.stack([ones(2, 3), ones(2, 3), ones(3, 2)])
    message = assert_ours(info.value, "stack")
    assert "(2, 3)" in message and "(3, 2)" in message


def test_split_sizes_must_add_up():
    with pytest.raises(tr.ShapeError) as info:
        ones(2, 5).split([2, 2], dim=1)
    message = assert_ours(info.value, "split")
    assert "[2, 2]" in message and "5" in message and "(2, 5)" in message


def test_split_size_must_be_positive():
    with pytest.raises(tr.ShapeError) as info:
        ones(2, 5).split(0)
    assert "positive" in assert_ours(info.value, "split")


@pytest.mark.parametrize("chunks", [0, -1])
def test_chunk_needs_a_positive_number_of_chunks(chunks):
    with pytest.raises(ValueError) as info:
        ones(4, 6).chunk(chunks)
    message = assert_ours(info.value, "chunk")
    assert "positive" in message and repr(chunks) in message


@pytest.mark.parametrize("op, fn", [
    ("concat", lambda: tr.concat([ones(2, 3), ones(2, 3)], dim=2)),
    ("split", lambda: ones(2, 3).split(1, dim=4)),
    ("chunk", lambda: ones(2, 3).chunk(2, dim=-3)),
    ("unbind", lambda: ones(2, 3).unbind(2)),
    ("unbind", lambda: Tensor(1.0).unbind()),
    ("transpose", lambda: ones(2, 3, 4).transpose(0, 5)),
])
def test_an_axis_out_of_range_is_an_error_not_wrapped_around(op, fn):
    # axis % ndim would silently turn axis 2 of a 2-D tensor into axis 0
    with pytest.raises(tr.ShapeError) as info:
        fn()
    assert "out of range" in assert_ours(info.value, op)


@pytest.mark.parametrize("op, fn", [
    ("sum", lambda: ones(2, 3).sum(dim=2)),
    ("mean", lambda: ones(2, 3).mean(dim=(0, -3))),
    ("stack", lambda: tr.stack([ones(2, 3), ones(2, 3)], dim=4)),
])
def test_reductions_and_stack_with_an_axis_out_of_range(op, fn):
    with pytest.raises(tr.ShapeError) as info:
        fn()
    assert "(2, 3)" in assert_ours(info.value, op)


def test_reshape_names_both_shapes_and_the_element_count():
    with pytest.raises(tr.ShapeError) as info:
        ones(2, 5).reshape(3, 3)
    message = assert_ours(info.value, "reshape")
    assert "(2, 5)" in message and "(3, 3)" in message and "10 elements" in message


# --------------------------------------------------------------------------- backward


def test_backward_on_a_non_scalar_says_what_to_pass():
    y = ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError) as info:
        y.backward()
    message = assert_ours(info.value, "backward()")
    assert "(2, 3)" in message and "y.backward(np.ones((2, 3)))" in message
    assert "y.sum().backward()" in message


def test_backward_gradient_of_the_wrong_shape():
    y = ones(2, 3, requires_grad=True) * 2
    with pytest.raises(ValueError) as info:
        y.backward(np.ones((3, 2)))
    message = assert_ours(info.value, "backward()")
    assert "(3, 2)" in message and "(2, 3)" in message


def test_backward_on_a_tensor_that_does_not_require_grad():
    with pytest.raises(RuntimeError) as info:
        (ones(3) * 2).sum().backward()
    message = assert_ours(info.value, "backward()")
    assert "requires_grad=True" in message


def test_backward_twice_without_retain_graph():
    x = ones(3, requires_grad=True)
    loss = (x.tanh() * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True") as info:
        loss.backward()
    assert "second time" in str(info.value)


# --------------------------------------------------------------------------- types and values


def test_an_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError) as info:
        Tensor(np.arange(3), dtype=np.int64, requires_grad=True)
    message = str(info.value)
    assert "floating-point" in message and "int64" in message


def test_switching_on_requires_grad_for_an_integer_tensor():
    t = Tensor(np.arange(3), dtype=np.int64)
    with pytest.raises(TypeError, match="int64"):
        t.requires_grad = True
    assert not t.requires_grad


def test_a_tensor_from_strings_is_refused():
    with pytest.raises(TypeError) as info:
        Tensor(["a", "b"])
    assert_ours(info.value, "Tensor")


@pytest.mark.parametrize("exponent", ["2", 1j])
def test_pow_with_an_exponent_that_is_not_real(exponent):
    with pytest.raises(TypeError) as info:
        ones(2, requires_grad=True) ** exponent
    message = assert_ours(info.value, "pow")
    assert "real number (x ** 2) or a tensor (x ** y)" in message


def test_item_on_a_multi_element_tensor():
    with pytest.raises(ValueError) as info:
        ones(2, 3).item()
    message = assert_ours(info.value, "item()")
    assert "(2, 3)" in message and "one-element" in message
    assert Tensor([[4.5]]).item() == 4.5  # one element, any shape, works


@pytest.mark.parametrize("index", [5, (0, 7), -4])
def test_getitem_out_of_range(index):
    with pytest.raises(IndexError) as info:
        ones(3, 2)[index] if isinstance(index, tuple) else ones(3)[index]
    message = assert_ours(info.value, "getitem")
    assert "out of bounds" in message and "tensor shape" in message


def test_requires_grad_cannot_be_switched_off_on_a_computed_tensor():
    y = ones(3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"detach\(\)"):
        y.requires_grad = False


# --------------------------------------------------------------------------- a user's own ops


@pytest.mark.parametrize("field", ["seq", "parents", "needs_input_grad", "fn", "retained"])
def test_an_op_that_stores_an_engine_name_on_ctx_is_refused_when_defined(field):
    # ctx.seq = ... in forward would reorder backward without a word: refused at once
    source = f"""
class Windowed(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.width, ctx.{field} = 3, x.shape
        return x * 2.0

    @staticmethod
    def backward(ctx, grad):
        return grad * 2.0
"""
    with pytest.raises(TypeError) as info:
        exec(source, {"Function": tr.Function})
    message = str(info.value)
    assert f"Windowed.forward sets ctx.{field}" in message and f"ctx.my_{field}" in message


def test_an_engine_name_on_anything_but_ctx_and_other_names_on_ctx_are_fine():
    class Helper:
        pass

    class Doubler(tr.Function):
        @staticmethod
        def forward(context, x):  # whatever the first argument is called
            helper = Helper()
            helper.seq = 1
            context.my_seq, context.axis = 1, 0
            return x * 2.0

        @staticmethod
        def backward(context, grad):
            return grad * 2.0

    x = Tensor(np.ones(3), requires_grad=True)
    Doubler.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])

    with pytest.raises(TypeError, match=r"Bad\.backward sets c\.parents"):
        class Bad(tr.Function):
            @staticmethod
            def forward(c, x):
                return x

            @staticmethod
            def backward(c, grad):
                c.parents = ()
                return grad
