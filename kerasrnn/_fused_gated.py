"""The LSTM whole-sequence kernel with hand-written gradients, every variant of
`kerasrnn.LSTMCell` included (the conventions and the shared machinery: `kerasrnn._fused`;
the GRU's kernel: `kerasrnn._fused_gru`)."""

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
    _sum_outer,
    _upstream_xs,
)


def lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias, spec, projection=None,
                  peephole=None, norm=None, zoneout=(None, None)):
    """LSTM over a whole sequence. `bias` may be None (use_bias=False); the variants'
    weights (`kerasrnn.LSTMCell`) are None when off: `projection` (H, P), `peephole` (3, H),
    `norm` the layer norm's gains and shift (γ_x, γ_h, γ_c, β_c); `zoneout` holds, for h and
    for c, None, the rate (inference) or the (T, B, .) 0/1 masks of the units kept (training).

    The forward loop saves, per step, what the backward loop multiplies by instead of the
    gates: P = [g i', c_{t-1} f', i g', tanh(c_t) o'] (so dZ = [dc, dc, dc, dm] * P, with
    dm the gradient of m_t = o tanh(c_t): dh, or dh W_hr^T with a projection),
    E = o act'(c_t) (so dc += dm E) and f (so dc_{t-1} = dc f), all already zeroed (f: one)
    at masked steps. The backward loop then has no activation left to evaluate, and its dZ
    is written over P in place. Peepholes add dZ_o p_o to dc and dZ_i p_i + dZ_f p_f to
    dc_{t-1}; their weights' gradients need the saved c_t. A projection saves m_t (zero at
    masked steps) and has the reverse loop return dh_t, so that dW_hr = sum m_t^T dh_t.

    Layer norm saves the normalized h_{t-1} U and c_t with their 1/std; the reverse loop
    takes the recurrent side's and the cell's norm gradients (`_normalize_grad`), the input
    side's is one whole-sequence op after it (x W is recomputed there, not saved).
    Zoneout (h_t = k h_{t-1} + (1 - k) h~_t, the same for c) scales dh and dc by 1 - k on
    their way into the step and hands k dh, k dc straight to h_{t-1}, c_{t-1}.
    """
    use_bias = bias is not None
    proj, peep, normed = projection is not None, peephole is not None, norm is not None
    masks = [k for k in zoneout if k is not None and not isinstance(k, float)]
    zoned_c = zoneout[1] is not None
    extra_weights = [t for t in (projection, peephole) if t is not None]
    extra_weights += (list(norm) if normed else []) + masks

    def zone_rates(xs):
        """Per state: None, a float rate, or this step's mask (read after x in `xs`)."""
        found, k = [], 1
        for z in zoneout:
            if z is None or isinstance(z, float):
                found.append(z)
            else:
                found.append(xs[k])
                k += 1
        return found

    def make_step(w, u, b, rm, m, save, *more):
        wr = more[0] if proj else None
        pw = more[proj] if peep else None
        gx, gh, gc, bc = more[proj + peep : proj + peep + 4] if normed else (None,) * 4

        def step(carry, xs):
            h, c = carry
            hr = _recurrent_in(h, rm)
            zx, zh = ops.matmul(xs[0], w), ops.matmul(hr, u)
            if normed:
                nh, rh = _normalize(zh, 4)
                zx, zh = _normalize(zx, 4)[0] * gx, nh * gh
            z = zx + zh
            if use_bias:
                z = z + b
            zi, zf, zg, zo = ops.split(z, 4, axis=-1)
            if peep:
                zi, zf = zi + pw[0] * c, zf + pw[1] * c
            i, f = spec.ract(zi), spec.ract(zf)
            g = spec.act(zg)
            c_new = f * c + i * g
            o = spec.ract(zo + pw[2] * c_new if peep else zo)
            if normed:
                nc, rc = _normalize(c_new, 1)
                tc = spec.act(nc * gc + bc)
            else:
                tc = spec.act(c_new)
            mid = o * tc
            h_new = ops.matmul(mid, wr) if proj else mid
            kh, kc = zone_rates(xs)
            h_zoned = h_new if kh is None else h_new + kh * (h - h_new)
            c_zoned = c_new if kc is None else c_new + kc * (c - c_new)
            mt = xs[-1] if m is not None else None
            h_new, c_zoned = _keep(mt, h_zoned, h), _keep(mt, c_zoned, c)
            ys = (h_new,) if spec.sequences else ()
            if not save:
                return (h_new, c_zoned), ys
            p = ops.concatenate(
                [g * spec.dract(i), c * spec.dract(f), i * spec.dact(g), tc * spec.dract(o)],
                axis=-1,
            )
            e = o * spec.dact(tc)
            if mt is not None:
                p, e = ops.where(mt, p, ops.zeros_like(p)), ops.where(mt, e, ops.zeros_like(e))
                f = ops.where(mt, f, ops.ones_like(f))
                mid = ops.where(mt, mid, ops.zeros_like(mid)) if proj else mid
            extra = ((mid,) if proj else ()) + ((c_zoned,) if peep else ())
            extra += ((c_new,) if peep and zoned_c else ()) + ((nh, rh, nc, rc) if normed else ())
            return (h_new, c_zoned), (p, e, f, hr) + extra + ys

        return step

    n_peep = peep * (1 + zoned_c)  # c_t, and c~_t if zoneout makes them differ
    n_saved = 4 + proj + n_peep + 4 * normed
    n_more = len(extra_weights) - len(masks)

    def forward(*args):
        x, (h0, c0), w, u, b, m, rm, *more = _parse(args, 2, use_bias, spec, len(extra_weights))
        (h_t, c_t), saved = _scan.scan(
            make_step(w, u, b, rm, m, True, *more[:n_more]), (h0, c0),
            _masked_xs((x, *more[n_more:]), m), n_ys=n_saved + spec.sequences,
            unroll=spec.unroll,
        )
        outputs = (_first_output(spec, saved[-1] if spec.sequences else h_t, m), h_t, c_t)
        return outputs, tuple(saved[:n_saved])

    def backward(args, saved, upstream):
        x, (_, c0), w, u, b, m, rm, *more = _parse(args, 2, use_bias, spec, len(extra_weights))
        p, e, f, hr_prev = saved[:4]
        norm_saved = tuple(saved[4 + proj + n_peep :])
        d_out, dh_t, dc_t = upstream
        u_t = ops.transpose(u)  # once, outside the reverse loop
        wr_t = ops.transpose(more[0]) if proj else None
        pw = more[proj] if peep else None
        gx, gh, gc, _ = more[proj + peep : n_more] if normed else (None,) * 4
        units = ops.shape(c0)[-1]
        n_in = 3 + len(norm_saved)
        xs, dh_t = _upstream_xs(
            spec, (p, e, f) + norm_saved + tuple(more[n_more:]), (d_out, dh_t), m)
        if spec.sequences:  # the output gradient goes first, after P, E, f and the norms
            xs = xs[:n_in] + xs[-1:] + xs[n_in:-1]

        def back(carry, xs):
            dh, dc = carry
            p_t, e_t, f_t = xs[:3]
            if spec.sequences:
                dh = dh + xs[n_in]
            kh, kc = zone_rates(xs[n_in + spec.sequences - 1 :])
            dh_kept = None if kh is None else dh * kh  # zoneout: straight to h_{t-1}
            dc_kept = None if kc is None else dc * kc
            dh = dh if kh is None else dh - dh_kept
            dc = dc if kc is None else dc - dc_kept
            dm = ops.matmul(dh, wr_t) if proj else dh
            if normed:
                nh_t, rh_t, nc_t, rc_t = xs[3:7]
                d_cell = dm * e_t  # of LN(c_t) γ_c + β_c
                dc = dc + _normalize_grad(d_cell * gc, nc_t, rc_t, 1)
            else:
                dc = dc + dm * e_t
            if peep:
                dc = dc + dm * p_t[..., 3 * units :] * pw[2]
            dz = ops.concatenate([dc, dc, dc, dm], axis=-1) * p_t
            d_rec = _normalize_grad(dz * gh, nh_t, rh_t, 4) if normed else dz
            dh_prev = _recurrent_in(ops.matmul(d_rec, u_t), rm)
            if m is not None:  # a masked step hands dh on to h_{t-1} unchanged
                skip = dh if dh_kept is None else dh + dh_kept
                if dh_kept is not None:
                    dh_kept = ops.where(xs[-1], dh_kept, ops.zeros_like(dh))
                dh_prev = dh_prev + ops.where(xs[-1], ops.zeros_like(dh), skip)
            dh_prev = _add(dh_prev, dh_kept)
            dc_prev = _add(dc * f_t, dc_kept)
            if peep:
                dc_prev = dc_prev + dz[..., :units] * pw[0] + dz[..., units : 2 * units] * pw[1]
            ys = (dz,) + ((dh,) if proj else ()) + ((d_rec, d_cell) if normed else ())
            return (dh_prev, dc_prev), ys

        (dh0, dc0), ys = _scan.scan(
            back, (dh_t, dc_t), _masked_xs(xs, m), n_ys=1 + proj + 2 * normed, reverse=True,
            unroll=spec.unroll, overwrite=None if normed else 0,  # in place: 2x slower with LN
        )
        dz = ys[0]
        d_in, d_rec = dz, dz  # gradients of x W and of h_{t-1} U
        norm_grads = []
        if normed:
            nx, rx = _normalize(ops.matmul(x, w), 4)
            d_in, d_rec, d_cell = _normalize_grad(dz * gx, nx, rx, 4), ys[-2], ys[-1]
            nh, nc = norm_saved[0], norm_saved[2]
            norm_grads = [ops.sum(dz * nx, axis=(0, 1)), ops.sum(dz * nh, axis=(0, 1)),
                          ops.sum(d_cell * nc, axis=(0, 1)), ops.sum(d_cell, axis=(0, 1))]
        grads = [dh0, dc0, _sum_outer(x, d_in), _sum_outer(hr_prev, d_rec)]
        if use_bias:
            grads.append(ops.sum(_flat(dz), axis=0))
        if proj:
            grads.append(_sum_outer(saved[4], ys[1]))
        if peep:
            cs, c_tilde = saved[4 + proj], saved[3 + proj + n_peep]  # c_t, c~_t (o's input)
            c_prev = _shift(c0, cs)
            grads.append(ops.stack([
                ops.sum(dz[..., :units] * c_prev, axis=(0, 1)),
                ops.sum(dz[..., units : 2 * units] * c_prev, axis=(0, 1)),
                ops.sum(dz[..., 3 * units :] * c_tilde, axis=(0, 1)),
            ]))
        grads += norm_grads + [ops.zeros_like(k) for k in masks]
        return (d_in,), grads

    return _launch(forward, backward, make_step, x, (h0, c0), kernel, recurrent_kernel, bias, spec,
                   more=extra_weights, n_step=len(masks))
