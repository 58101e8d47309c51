"""The GRU whole-sequence kernel, both forms, with hand-written gradients (the conventions
and the shared machinery: `kerasrnn._fused`)."""

from keras import ops

from kerasrnn import _scan
from kerasrnn._fused import (
    _add,
    _first_output,
    _flat,
    _keep,
    _launch,
    _masked_xs,
    _normalize,
    _normalize_grad,
    _parse,
    _recurrent_in,
    _shift,
    _split_masked,
    _sum_outer,
    _upstream_xs,
    _weight_grads,
)


def gru_sequence(x, h0, kernel, recurrent_kernel, bias, reset_after, spec, norm=None,
                 zoneout=None):
    """GRU over a whole sequence, either form. `bias`: (2, 3H) if reset_after else (3H,).
    The variants of `kerasrnn.GRUCell`, with reset_after only: `norm` the layer norm's gains
    (γ_x, γ_h), `zoneout` None, the rate (inference) or the (T, B, H) 0/1 masks of the units
    kept (training), as in `kerasrnn._fused_gated.lstm_sequence`.

    With `reset_after` (the default form) the forward loop saves the backward's multipliers,
    as `lstm_sequence` does: the recurrent pre-activations' gradient is [dh, dh, dh] * Q with
    Q = [(h_{t-1} - h~) z', (1 - z) act'(h~) (h_{t-1} U_h + b_h) r', (1 - z) act'(h~) r],
    dh_{t-1} gets dh z, and the input side differs only in the candidate block, by
    dh (1 - z) act'(h~) (1 - r). Masked steps have Q = 0 and z = 1.

    Layer norm saves the normalized h_{t-1} U and its 1/std for the reverse loop; the input
    side's norm gradient is one whole-sequence op after the loop (x W recomputed, not saved).
    """
    use_bias = bias is not None
    units = ops.shape(h0)[-1]
    masks = [] if zoneout is None or isinstance(zoneout, float) else [zoneout]
    normed = norm is not None
    n_more = 2 * normed

    def make_step(w, u, b, rm, m, save, *more):
        gx, gh = more if normed else (None, None)
        b_in, b_rec = (b[0], b[1]) if (use_bias and reset_after) else (b, None)
        u_zr, u_h = u[:, : 2 * units], u[:, 2 * units :]

        def step(carry, xs):
            (h,) = carry
            hr = _recurrent_in(h, rm)
            xz = ops.matmul(xs[0], w)
            if normed:
                xz = _normalize(xz, 3)[0] * gx
            if b_in is not None:
                xz = xz + b_in
            xz_z, xz_r, xz_h = ops.split(xz, 3, axis=-1)
            if reset_after:
                rz = ops.matmul(hr, u)
                if normed:
                    nr, rr = _normalize(rz, 3)
                    rz = nr * gh
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
            kh = xs[1] if masks else zoneout
            if kh is not None:
                h_new = h_new + kh * (h - h_new)
            mt = xs[-1] if m is not None else None
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
            return (h_new,), (q, qd, z, hr) + ((nr, rr) if normed else ()) + ys

        return step

    def forward(*args):
        x, (h0,), w, u, b, m, rm, *more = _parse(args, 1, use_bias, spec, n_more + len(masks))
        n_saved = 4 + 2 * normed
        (h_t,), saved = _scan.scan(
            make_step(w, u, b, rm, m, True, *more[:n_more]), (h0,),
            _masked_xs((x, *more[n_more:]), m),
            n_ys=n_saved + spec.sequences if reset_after else 3, unroll=spec.unroll,
        )
        hs = saved[-1] if (spec.sequences or not reset_after) else None
        outputs = (_first_output(spec, hs if spec.sequences else h_t, m), h_t)
        return outputs, tuple(saved[:n_saved] if reset_after else saved)

    def backward(args, saved, upstream):
        if reset_after:
            return _backward_reset_after(args, saved, upstream)
        return _backward_reset_before(args, saved, upstream)

    def _backward_reset_after(args, saved, upstream):
        x, _, w, u, b, m, rm, *more = _parse(args, 1, use_bias, spec, n_more + len(masks))
        (gx, gh), kept = (more[:n_more] if normed else (None, None)), more[n_more:]
        q, qd, z, hr_prev = saved[:4]
        xs, dh_t = _upstream_xs(spec, (q, qd, z, *kept, *saved[4:]), upstream, m)
        u_t = ops.transpose(u)  # once, outside the reverse loop
        k = 3 + len(kept)  # the saved norms' place in xs

        def back(carry, xs):
            (dh,) = carry
            if spec.sequences:
                dh = dh + xs[-1]
            kh = xs[3] if masks else zoneout
            dh_kept = None if kh is None else dh * kh  # zoneout: straight to h_{t-1}
            dh = dh if kh is None else dh - dh_kept
            d_rec = ops.concatenate([dh, dh, dh], axis=-1) * xs[0]
            d_hu = _normalize_grad(d_rec * gh, xs[k], xs[k + 1], 3) if normed else d_rec
            dh_prev = _add(_recurrent_in(ops.matmul(d_hu, u_t), rm) + dh * xs[2], dh_kept)
            return (dh_prev,), (d_rec, dh * xs[1]) + ((d_hu,) if normed else ())

        (dh0,), (d_rec, d_cand, *d_hu) = _scan.scan(  # d_hu: of h_{t-1} U before its norm
            back, (dh_t,), xs, n_ys=2 + normed, reverse=True, unroll=spec.unroll,
            overwrite=None if normed else 0,  # in place: slower with layer norm (as the LSTM)
        )
        zeros = [ops.zeros_like(t) for t in kept]
        db = []
        if use_bias:
            db_rec = ops.sum(_flat(d_rec), axis=0)
            db_in = db_rec + ops.pad(ops.sum(_flat(d_cand), axis=0), [[2 * units, 0]])
            db = [ops.stack([db_in, db_rec])]
        if normed:
            d_xz = d_rec + ops.pad(d_cand, [[0, 0], [0, 0], [2 * units, 0]])
            nx, rx = _normalize(ops.matmul(x, w), 3)
            d_xw = _normalize_grad(d_xz * gx, nx, rx, 3)
            grads = [dh0, _sum_outer(x, d_xw), _sum_outer(hr_prev, d_hu[0])] + db
            grads += [ops.sum(d_xz * nx, axis=(0, 1)), ops.sum(d_rec * saved[4], axis=(0, 1))]
            return (d_xw,), grads + zeros
        # the input side's gradient is d_rec + [0, 0, d_cand]; never materialized
        dw = _sum_outer(x, d_rec) + ops.pad(_sum_outer(x, d_cand), [[0, 0], [2 * units, 0]])
        return (d_rec, d_cand), [dh0, dw, _sum_outer(hr_prev, d_rec)] + db + zeros

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
        if normed or not reset_after:
            return ops.matmul(_flat(ds[0]), ops.transpose(w))
        d_rec, d_cand = ds
        w_h = w[:, 2 * units :]
        return ops.matmul(_flat(d_rec), ops.transpose(w)) + ops.matmul(
            _flat(d_cand), ops.transpose(w_h)
        )

    return _launch(
        forward, backward, make_step, x, (h0,), kernel, recurrent_kernel, bias, spec, input_grad,
        more=list(norm or []) + masks, n_step=len(masks),
    )
