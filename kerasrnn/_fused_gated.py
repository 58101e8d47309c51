"""The LSTM and GRU whole-sequence kernels with hand-written gradients (the conventions and
the shared machinery: `kerasrnn._fused`)."""

from keras import ops

from kerasrnn import _scan
from kerasrnn._fused import (
    _add,
    _first_output,
    _flat,
    _keep,
    _launch,
    _masked_xs,
    _parse,
    _recurrent_in,
    _shift,
    _split_masked,
    _sum_outer,
    _upstream_xs,
    _weight_grads,
)


def lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias, spec, projection=None,
                  peephole=None):
    """LSTM over a whole sequence. `bias` may be None (use_bias=False); `projection` (H, P)
    and `peephole` (3, H) are the variants' weights, or None (`kerasrnn.LSTMCell`).

    The forward loop saves, per step, what the backward loop multiplies by instead of the
    gates: P = [g i', c_{t-1} f', i g', tanh(c_t) o'] (so dZ = [dc, dc, dc, dm] * P, with
    dm the gradient of m_t = o tanh(c_t): dh, or dh W_hr^T with a projection),
    E = o act'(c_t) (so dc += dm E) and f (so dc_{t-1} = dc f), all already zeroed (f: one)
    at masked steps. The backward loop then has no activation left to evaluate, and its dZ
    is written over P in place. Peepholes add dZ_o p_o to dc and dZ_i p_i + dZ_f p_f to
    dc_{t-1}; their weights' gradients need the saved c_t. A projection saves m_t (zero at
    masked steps) and has the reverse loop return dh_t, so that dW_hr = sum m_t^T dh_t.
    """
    use_bias = bias is not None
    extra_weights = [t for t in (projection, peephole) if t is not None]
    proj, peep = projection is not None, peephole is not None

    def make_step(w, u, b, rm, m, save, *more):
        wr = more[0] if proj else None
        pw = more[-1] if peep else None

        def step(carry, xs):
            h, c = carry
            hr = _recurrent_in(h, rm)
            z = ops.matmul(xs[0], w) + ops.matmul(hr, u)
            if use_bias:
                z = z + b
            zi, zf, zg, zo = ops.split(z, 4, axis=-1)
            if peep:
                zi, zf = zi + pw[0] * c, zf + pw[1] * c
            i, f = spec.ract(zi), spec.ract(zf)
            g = spec.act(zg)
            c_new = f * c + i * g
            o = spec.ract(zo + pw[2] * c_new if peep else zo)
            tc = spec.act(c_new)
            mid = o * tc
            h_new = ops.matmul(mid, wr) if proj else mid
            mt = xs[1] if m is not None else None
            h_new, c_new = _keep(mt, h_new, h), _keep(mt, c_new, c)
            ys = (h_new,) if spec.sequences else ()
            if not save:
                return (h_new, c_new), ys
            p = ops.concatenate(
                [g * spec.dract(i), c * spec.dract(f), i * spec.dact(g), tc * spec.dract(o)],
                axis=-1,
            )
            e = o * spec.dact(tc)
            if mt is not None:
                p, e = ops.where(mt, p, ops.zeros_like(p)), ops.where(mt, e, ops.zeros_like(e))
                f = ops.where(mt, f, ops.ones_like(f))
                mid = ops.where(mt, mid, ops.zeros_like(mid)) if proj else mid
            extra = ((mid,) if proj else ()) + ((c_new,) if peep else ())
            return (h_new, c_new), (p, e, f, hr) + extra + ys

        return step

    n_saved, n_more = 4 + proj + peep, proj + peep

    def forward(*args):
        x, (h0, c0), w, u, b, m, rm, *more = _parse(args, 2, use_bias, spec, n_more)
        (h_t, c_t), saved = _scan.scan(
            make_step(w, u, b, rm, m, True, *more), (h0, c0), _masked_xs((x,), m),
            n_ys=n_saved + spec.sequences, unroll=spec.unroll,
        )
        outputs = (_first_output(spec, saved[-1] if spec.sequences else h_t, m), h_t, c_t)
        return outputs, tuple(saved[:n_saved])

    def backward(args, saved, upstream):
        x, (_, c0), w, u, b, m, rm, *more = _parse(args, 2, use_bias, spec, n_more)
        p, e, f, hr_prev = saved[:4]
        d_out, dh_t, dc_t = upstream
        u_t = ops.transpose(u)  # once, outside the reverse loop
        wr_t = ops.transpose(more[0]) if proj else None
        pw = more[-1] if peep else None
        units = ops.shape(c0)[-1]
        xs, dh_t = _upstream_xs(spec, (p, e, f), (d_out, dh_t), m)

        def back(carry, xs):
            dh, dc = carry
            p_t, e_t, f_t = xs[:3]
            if spec.sequences:
                dh = dh + xs[3]
            dm = ops.matmul(dh, wr_t) if proj else dh
            dc = dc + dm * e_t
            if peep:
                dc = dc + dm * p_t[..., 3 * units :] * pw[2]
            dz = ops.concatenate([dc, dc, dc, dm], axis=-1) * p_t
            dh_prev = _recurrent_in(ops.matmul(dz, u_t), rm)
            if m is not None:  # a masked step hands dh on to h_{t-1} unchanged
                dh_prev = dh_prev + ops.where(xs[-1], ops.zeros_like(dh), dh)
            dc_prev = dc * f_t
            if peep:
                dc_prev = dc_prev + dz[..., :units] * pw[0] + dz[..., units : 2 * units] * pw[1]
            return (dh_prev, dc_prev), (dz,) + ((dh,) if proj else ())

        (dh0, dc0), ys = _scan.scan(
            back, (dh_t, dc_t), _masked_xs(xs, m), n_ys=1 + proj, reverse=True,
            unroll=spec.unroll, overwrite=0,
        )
        dz = ys[0]
        dw, db = _weight_grads(x, dz, use_bias)
        grads = [dh0, dc0, *dw, _sum_outer(hr_prev, dz), *db]
        if proj:
            grads.append(_sum_outer(saved[4], ys[1]))
        if peep:
            cs = saved[-1]
            c_prev = _shift(c0, cs)
            grads.append(ops.stack([
                ops.sum(dz[..., :units] * c_prev, axis=(0, 1)),
                ops.sum(dz[..., units : 2 * units] * c_prev, axis=(0, 1)),
                ops.sum(dz[..., 3 * units :] * cs, axis=(0, 1)),
            ]))
        return (dz,), grads

    return _launch(forward, backward, make_step, x, (h0, c0), kernel, recurrent_kernel, bias, spec,
                   more=extra_weights)


def gru_sequence(x, h0, kernel, recurrent_kernel, bias, reset_after, spec):
    """GRU over a whole sequence, either form. `bias`: (2, 3H) if reset_after else (3H,).

    With `reset_after` (the default form) the forward loop saves the backward's multipliers,
    as `lstm_sequence` does: the recurrent pre-activations' gradient is [dh, dh, dh] * Q with
    Q = [(h_{t-1} - h~) z', (1 - z) act'(h~) (h_{t-1} U_h + b_h) r', (1 - z) act'(h~) r],
    dh_{t-1} gets dh z, and the input side differs only in the candidate block, by
    dh (1 - z) act'(h~) (1 - r). Masked steps have Q = 0 and z = 1.
    """
    use_bias = bias is not None
    units = ops.shape(h0)[-1]

    def make_step(w, u, b, rm, m, save):
        b_in, b_rec = (b[0], b[1]) if (use_bias and reset_after) else (b, None)
        u_zr, u_h = u[:, : 2 * units], u[:, 2 * units :]

        def step(carry, xs):
            (h,) = carry
            hr = _recurrent_in(h, rm)
            xz = ops.matmul(xs[0], w)
            if b_in is not None:
                xz = xz + b_in
            xz_z, xz_r, xz_h = ops.split(xz, 3, axis=-1)
            if reset_after:
                rz = ops.matmul(hr, u)
                if b_rec is not None:
                    rz = rz + b_rec
                rz_z, rz_r, rz_h = ops.split(rz, 3, axis=-1)
                z, r = spec.ract(xz_z + rz_z), spec.ract(xz_r + rz_r)
                hh = spec.act(xz_h + r * rz_h)
            else:
                rz_z, rz_r = ops.split(ops.matmul(hr, u_zr), 2, axis=-1)
                z, r = spec.ract(xz_z + rz_z), spec.ract(xz_r + rz_r)
                rz_h = ops.matmul(r * hr, u_h)
                hh = spec.act(xz_h + rz_h)
            h_new = hh + z * (h - hh)
            mt = xs[1] if m is not None else None
            h_new = _keep(mt, h_new, h)
            ys = (h_new,) if spec.sequences else ()
            if not save:
                return (h_new,), ys
            if not reset_after:
                return (h_new,), (ops.concatenate([z, r, hh], axis=-1), rz_h, h_new)
            qh = (1.0 - z) * spec.dact(hh)
            q = ops.concatenate([(h - hh) * spec.dract(z), qh * rz_h * spec.dract(r), qh * r], -1)
            qd = qh * (1.0 - r)
            if mt is not None:
                q, qd = ops.where(mt, q, ops.zeros_like(q)), ops.where(mt, qd, ops.zeros_like(qd))
                z = ops.where(mt, z, ops.ones_like(z))
            return (h_new,), (q, qd, z, hr) + ys

        return step

    def forward(*args):
        x, (h0,), w, u, b, m, rm = _parse(args, 1, use_bias, spec)
        (h_t,), saved = _scan.scan(
            make_step(w, u, b, rm, m, True), (h0,), _masked_xs((x,), m),
            n_ys=4 + spec.sequences if reset_after else 3, unroll=spec.unroll,
        )
        hs = saved[-1] if (spec.sequences or not reset_after) else None
        outputs = (_first_output(spec, hs if spec.sequences else h_t, m), h_t)
        return outputs, tuple(saved[:4] if reset_after else saved)

    def backward(args, saved, upstream):
        if reset_after:
            return _backward_reset_after(args, saved, upstream)
        return _backward_reset_before(args, saved, upstream)

    def _backward_reset_after(args, saved, upstream):
        x, _, w, u, b, m, rm = _parse(args, 1, use_bias, spec)
        q, qd, z, hr_prev = saved
        xs, dh_t = _upstream_xs(spec, (q, qd, z), upstream, m)
        u_t = ops.transpose(u)  # once, outside the reverse loop

        def back(carry, xs):
            (dh,) = carry
            if spec.sequences:
                dh = dh + xs[3]
            d_rec = ops.concatenate([dh, dh, dh], axis=-1) * xs[0]
            dh_prev = _recurrent_in(ops.matmul(d_rec, u_t), rm) + dh * xs[2]
            return (dh_prev,), (d_rec, dh * xs[1])

        (dh0,), (d_rec, d_cand) = _scan.scan(
            back, (dh_t,), xs, n_ys=2, reverse=True, unroll=spec.unroll, overwrite=0
        )
        # the input side's gradient is d_rec + [0, 0, d_cand]; never materialized
        dw = _sum_outer(x, d_rec) + ops.pad(_sum_outer(x, d_cand), [[0, 0], [2 * units, 0]])
        grads = [dh0, dw, _sum_outer(hr_prev, d_rec)]
        if use_bias:
            db_rec = ops.sum(_flat(d_rec), axis=0)
            db_in = db_rec + ops.pad(ops.sum(_flat(d_cand), axis=0), [[2 * units, 0]])
            grads.append(ops.stack([db_in, db_rec]))
        return (d_rec, d_cand), grads

    def _backward_reset_before(args, saved, upstream):
        x, (h0,), w, u, b, m, rm = _parse(args, 1, use_bias, spec)
        gates, rzh, hs = saved
        h_prev = _shift(h0, hs)
        xs, dh_t = _upstream_xs(spec, (gates, rzh, h_prev), upstream, m)
        # once, outside the reverse loop
        u_h_t, u_zr_t = ops.transpose(u[:, 2 * units :]), ops.transpose(u[:, : 2 * units])

        def back(carry, xs):
            (dh,) = carry
            gate, rz_h, h_p = xs[:3]
            if spec.sequences:
                dh = dh + xs[3]
            dh, dh_skip = _split_masked(xs[-1] if m is not None else None, dh)
            z, r, hh = ops.split(gate, 3, axis=-1)
            da_z = dh * (h_p - hh) * spec.dract(z)
            da_h = dh * (1.0 - z) * spec.dact(hh)
            d_rh = ops.matmul(da_h, u_h_t)
            da_r = d_rh * _recurrent_in(h_p, rm) * spec.dract(r)
            dhr = ops.matmul(ops.concatenate([da_z, da_r], axis=-1), u_zr_t) + d_rh * r
            dh_prev = _recurrent_in(dhr, rm) + dh * z
            return (_add(dh_prev, dh_skip),), (ops.concatenate([da_z, da_r, da_h], -1),)

        (dh0,), (dz,) = _scan.scan(
            back, (dh_t,), _masked_xs(xs, m), n_ys=1, reverse=True, unroll=spec.unroll
        )
        dw, db = _weight_grads(x, dz, use_bias)
        hr_prev = _recurrent_in(h_prev, rm)
        r_seq = gates[..., units : 2 * units]
        du = ops.concatenate(
            [
                _sum_outer(hr_prev, dz[..., : 2 * units]),
                _sum_outer(r_seq * hr_prev, dz[..., 2 * units :]),
            ],
            axis=1,
        )
        return (dz,), [dh0, *dw, du, *db]

    def input_grad(w, ds):
        if not reset_after:
            return ops.matmul(_flat(ds[0]), ops.transpose(w))
        d_rec, d_cand = ds
        w_h = w[:, 2 * units :]
        return ops.matmul(_flat(d_rec), ops.transpose(w)) + ops.matmul(
            _flat(d_cand), ops.transpose(w_h)
        )

    return _launch(
        forward, backward, make_step, x, (h0,), kernel, recurrent_kernel, bias, spec, input_grad
    )
