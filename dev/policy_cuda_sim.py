#!/usr/bin/env python3
"""Sequential transliteration of the index logic of native/cuda/policy_ops.cu,
checked against numpy in float64, for a machine without a GPU: the matmul
tile loads / micro-tiles / split-K slicing for the three layouts of a linear
layer, the attention forward (chunked online softmax, one warp per row and
head) and backward (query-side dq, key-side dk/dv) on the packed and the
KV-cache layouts, and the log-softmax statistics merge. It checks the
arithmetic of the indices as this file reads them, not the compiled kernels;
the native check (pyvision_check policy) on a GPU is the real test.

Run: python3 dev/policy_cuda_sim.py   (numpy only; ~10 s)
"""
import numpy as np, math
rng = np.random.default_rng(0)

def matmul_kernel(p, BM, BN, BK, TM, TN, akc, bkc, grid):
    kTx, kTy = BN // TN, BM // TM
    kT = kTx * kTy
    gx, gy, gz = grid
    for bz in range(gz):
        for by in range(gy):
            for bx in range(gx):
                m0, n0 = by * BM, bx * BN
                kb = bz * p['kps']; ke = min(p['K'], kb + p['kps'])
                acc = np.zeros((kT, TM, TN))
                k0 = kb
                while k0 < ke:
                    As = np.zeros((BK, BM)); Bs = np.zeros((BK, BN))
                    for tid in range(kT):
                        for e in range(tid, BM * BK, kT):
                            mm = e // BK if akc else e % BM
                            kk = e % BK if akc else e // BM
                            m, k = m0 + mm, k0 + kk
                            if m < p['M'] and k < ke:
                                As[kk, mm] = p['a'][m * p['lda'] + k] if akc else p['a'][k * p['lda'] + m]
                        for e in range(tid, BN * BK, kT):
                            nn = e // BK if bkc else e % BN
                            kk = e % BK if bkc else e // BN
                            n, k = n0 + nn, k0 + kk
                            if n < p['Nn'] and k < ke:
                                Bs[kk, nn] = p['b'][n * p['ldb'] + k] if bkc else p['b'][k * p['ldb'] + n]
                    for tid in range(kT):
                        tx, ty = tid % kTx, tid // kTx
                        for kk in range(BK):
                            ar = np.array([As[kk, ty + i * kTy] for i in range(TM)])
                            br = np.array([Bs[kk, tx + j * kTx] for j in range(TN)])
                            acc[tid] += np.outer(ar, br)
                    k0 += BK
                for tid in range(kT):
                    tx, ty = tid % kTx, tid // kTx
                    for i in range(TM):
                        m = m0 + ty + i * kTy
                        if m >= p['M']: continue
                        for j in range(TN):
                            n = n0 + tx + j * kTx
                            if n >= p['Nn']: continue
                            x = acc[tid, i, j]
                            if p['bias'] is not None and bz == 0: x += p['bias'][n]
                            idx = m * p['ldc'] + n
                            if gz > 1: p['c'][idx] += x
                            else: p['c'][idx] = (p['c'][idx] + x) if p['acc'] else x

def launch(p, allow_split, sms, big):
    BM, BN, BK, TM, TN = (128, 128, 8, 8, 8) if big else (64, 64, 16, 4, 4)
    tm, tn = -(-p['M'] // BM), -(-p['Nn'] // BN)
    slices = 1
    if allow_split and p['acc']:
        wanted = (2 * sms + tm * tn - 1) // (tm * tn)
        most = (p['K'] + 8 * BK - 1) // (8 * BK)
        slices = max(1, min(wanted, most, 65535))
    per = ((p['K'] + slices - 1) // slices + BK - 1) // BK * BK
    p['kps'] = max(per, BK)
    slices = (p['K'] + p['kps'] - 1) // p['kps'] or 1
    matmul_kernel(p, BM, BN, BK, TM, TN, p['akc'], p['bkc'], (tn, tm, slices))

def check_matmul(N, I, O, big, sms):
    inp = rng.uniform(-1, 1, (N, I)); W = rng.uniform(-1, 1, (O, I)); bias = rng.uniform(-1, 1, O)
    dout = rng.uniform(-1, 1, (N, O)); dw0 = rng.uniform(-1, 1, (O, I))
    out = np.zeros(N * O)
    launch(dict(c=out, a=inp.ravel(), b=W.ravel(), bias=bias, M=N, Nn=O, K=I, lda=I, ldb=I, ldc=O, acc=False, akc=True, bkc=True), False, sms, big)
    dinp = np.full(N * I, 7.0)
    launch(dict(c=dinp, a=dout.ravel(), b=W.ravel(), bias=None, M=N, Nn=I, K=O, lda=O, ldb=I, ldc=I, acc=False, akc=True, bkc=False), False, sms, big)
    dw = dw0.ravel().copy()
    launch(dict(c=dw, a=dout.ravel(), b=inp.ravel(), bias=None, M=O, Nn=I, K=N, lda=O, ldb=I, ldc=I, acc=True, akc=False, bkc=False), True, sms, big)
    e1 = np.abs(out.reshape(N, O) - (inp @ W.T + bias)).max()
    e2 = np.abs(dinp.reshape(N, I) - dout @ W).max()
    e3 = np.abs(dw.reshape(O, I) - (dw0 + dout.T @ inp)).max()
    print(f"matmul N={N} I={I} O={O} big={big} sms={sms}: {e1:.2e} {e2:.2e} {e3:.2e}")
    assert max(e1, e2, e3) < 1e-9

check_matmul(37, 19, 23, False, 132)
check_matmul(70, 33, 5, False, 3)
check_matmul(130, 9, 131, True, 1)
check_matmul(200, 140, 3, False, 40)

# ---- attention -------------------------------------------------------------
def attention_forward(q, k, v, qo, ks, fp, C, H, ldq, ldkv, max_q):
    D = C // H; scale = 1 / math.sqrt(D); B = len(ks); N = qo[-1]
    out = np.zeros(N * C); lse = np.zeros(N * H)
    for h in range(H):
        hd = h * D
        for s in range(B):
            q0 = qo[s]; nq = qo[s + 1] - q0
            for bx in range(-(-max_q // 8)):
                for warp in range(8):
                    i = bx * 8 + warp
                    if i >= nq: continue
                    r = q0 + i; pos = fp[s] + i; kb = ks[s]
                    sq = q[r * ldq + hd: r * ldq + hd + D] * scale
                    acc = np.zeros(D); m = -np.inf; l = 0.0
                    j0 = 0
                    while j0 <= pos:
                        lanes = np.arange(32); j = j0 + lanes
                        score = np.full(32, -np.inf)
                        for ln in range(32):
                            if j[ln] <= pos:
                                row = kb + j[ln]
                                score[ln] = sq @ k[row * ldkv + hd: row * ldkv + hd + D]
                        mn = max(m, score.max()); corr = math.exp(m - mn) if m != -np.inf else 0.0
                        prob = np.where(j <= pos, np.exp(score - mn), 0.0)
                        l = l * corr + prob.sum(); m = mn; acc *= corr
                        valid = min(32, pos + 1 - j0)
                        for jj in range(valid):
                            row = kb + j0 + jj
                            acc += prob[jj] * v[row * ldkv + hd: row * ldkv + hd + D]
                        j0 += 32
                    out[r * C + hd: r * C + hd + D] = acc / l
                    lse[r * H + h] = m + math.log(l)
    return out, lse

def attention_backward(dq, dk, dv, dout, out, lse, q, k, v, qo, ks, fp, C, H, ldq, ldkv, max_q, max_k):
    D = C // H; scale = 1 / math.sqrt(D); B = len(ks); N = qo[-1]
    delta = np.array([dout[r * C + h * D: r * C + h * D + D] @ out[r * C + h * D: r * C + h * D + D] for r in range(N) for h in range(H)])
    for h in range(H):
        hd = h * D
        for s in range(B):
            q0 = qo[s]; nq = qo[s + 1] - q0
            for i in range(nq):  # query kernel
                r = q0 + i; pos = fp[s] + i; kb = ks[s]
                sq = q[r * ldq + hd: r * ldq + hd + D]; sg = dout[r * C + hd: r * C + hd + D]
                acc = np.zeros(D)
                for j0 in range(0, pos + 1, 32):
                    for ln in range(min(32, pos + 1 - j0)):
                        row = kb + j0 + ln
                        kr = k[row * ldkv + hd: row * ldkv + hd + D]; vr = v[row * ldkv + hd: row * ldkv + hd + D]
                        p = math.exp((sq @ kr) * scale - lse[r * H + h])
                        ds = p * (sg @ vr - delta[r * H + h])
                        acc += ds * kr
                dq[r * ldq + hd: r * ldq + hd + D] += acc * scale
            first = fp[s]
            for bx in range(-(-max_k // 8)):
                for warp in range(8):
                    key = bx * 8 + warp
                    if key >= first + nq: continue
                    krow = ks[s] + key
                    sk = k[krow * ldkv + hd: krow * ldkv + hd + D]; sv = v[krow * ldkv + hd: krow * ldkv + hd + D]
                    ak = np.zeros(D); av = np.zeros(D)
                    ib = key - first if key > first else 0
                    for i in range(ib, nq):
                        r = q0 + i
                        qr = q[r * ldq + hd: r * ldq + hd + D]; gr = dout[r * C + hd: r * C + hd + D]
                        p = math.exp((qr @ sk) * scale - lse[r * H + h])
                        ds = p * (gr @ sv - delta[r * H + h])
                        av += p * gr; ak += ds * qr
                    dk[krow * ldkv + hd: krow * ldkv + hd + D] += ak * scale
                    dv[krow * ldkv + hd: krow * ldkv + hd + D] += av

def reference(q, k, v, dout, qo, ks, fp, C, H, ldq, ldkv, rows):
    # explicit softmax per (row, head) and its gradients
    D = C // H; scale = 1 / math.sqrt(D); N = qo[-1]

    out = np.zeros((N, C)); dq = np.zeros((N, C)); dk = np.zeros((rows, C)); dv = np.zeros((rows, C))
    for s in range(len(ks)):
        for i in range(qo[s + 1] - qo[s]):
            r = qo[s] + i; pos = fp[s] + i
            for h in range(H):
                hd = h * D
                krows = [ks[s] + j for j in range(pos + 1)]
                Kh = np.array([k[x * ldkv + hd: x * ldkv + hd + D] for x in krows])
                Vh = np.array([v[x * ldkv + hd: x * ldkv + hd + D] for x in krows])
                qh = q[r * ldq + hd: r * ldq + hd + D]
                sc = Kh @ qh * scale; P = np.exp(sc - sc.max()); P /= P.sum()
                o = P @ Vh; out[r, hd:hd + D] = o
                g = dout[r * C + hd: r * C + hd + D]
                dP = Vh @ g; dS = P * (dP - P @ dP)
                dq[r, hd:hd + D] += dS @ Kh * scale
                for idx, x in enumerate(krows):
                    dk[x, hd:hd + D] += dS[idx] * qh * scale
                    dv[x, hd:hd + D] += P[idx] * g
    return out, dq, dk, dv

def check_attention(qo, ks, fp, C, H, ldq, ldkv, rows, sep):
    N = qo[-1]
    max_q = max(qo[s + 1] - qo[s] for s in range(len(ks)))
    max_k = max(fp[s] + qo[s + 1] - qo[s] for s in range(len(ks)))
    q = rng.uniform(-2, 2, N * ldq)
    if sep:
        k = rng.uniform(-2, 2, rows * ldkv); v = rng.uniform(-2, 2, rows * ldkv)
    else:
        k = q[C:]; v = q[2 * C:]
    dout = rng.uniform(-1, 1, N * C)
    out, lse = attention_forward(q, k, v, qo, ks, fp, C, H, ldq, ldkv, max_q)
    ro, rdq, rdk, rdv = reference(q, k, v, dout, qo, ks, fp, C, H, ldq, ldkv, rows)
    e0 = np.abs(out.reshape(N, C) - ro).max()
    if sep:
        dq = np.zeros(N * ldq); dk = np.zeros(rows * ldkv); dv = np.zeros(rows * ldkv)
        attention_backward(dq, dk, dv, dout, out, lse, q, k, v, qo, ks, fp, C, H, ldq, ldkv, max_q, max_k)
        e1 = np.abs(dq.reshape(N, ldq)[:, :C] - rdq).max(); e2 = np.abs(dk.reshape(rows, ldkv)[:, :C] - rdk).max(); e3 = np.abs(dv.reshape(rows, ldkv)[:, :C] - rdv).max()
    else:
        dqkv = np.zeros(N * 3 * C)
        # dq, dk, dv as the column blocks of one buffer (views)
        dq = dqkv; dk = dqkv[C:]; dv = dqkv[2 * C:]
        attention_backward(dq, dk, dv, dout, out, lse, q, k, v, qo, ks, fp, C, H, ldq, ldkv, max_q, max_k)
        D3 = dqkv.reshape(N, 3 * C)
        e1 = np.abs(D3[:, :C] - rdq).max(); e2 = np.abs(D3[:, C:2 * C] - rdk[:N]).max(); e3 = np.abs(D3[:, 2 * C:] - rdv[:N]).max()
    print(f"attention qo={qo} fp={fp} C={C} H={H} sep={sep}: out {e0:.2e} dq {e1:.2e} dk {e2:.2e} dv {e3:.2e}")
    assert max(e0, e1, e2, e3) < 1e-9

# packed training layout, one qkv buffer: lengths 1, 33, 40, 7
lens = [1, 33, 40, 7]; qo = [0]
for n in lens: qo.append(qo[-1] + n)
check_attention(qo, qo[:-1], [0] * 4, 12, 3, 36, 36, qo[-1], False)
# cache layout: slots of T=50 rows, cached 0, 5, 37 then 3, 1, 9 queries
check_attention([0, 3, 4, 13], [0, 50, 100], [0, 5, 37], 8, 2, 8, 8, 150, True)


# ---- log-softmax statistics ------------------------------------------------
def add(a, x):
    m, s, t = a
    if s == 0: return (x, 1.0, 0.0)
    if x <= m:
        e = math.exp(x - m); return (m, s + e, t + e * (x - m))
    f = math.exp(m - x); return (x, s * f + 1.0, f * (t + (m - x) * s))
def merge(a, b):
    if a[1] == 0: return b
    if b[1] == 0: return a
    m = max(a[0], b[0]); fa = math.exp(a[0] - m); fb = math.exp(b[0] - m)
    return (m, a[1] * fa + b[1] * fb, fa * (a[2] + (a[0] - m) * a[1]) + fb * (b[2] + (b[0] - m) * b[1]))
for V in (1, 5, 513, 2000):
    x = rng.uniform(-4, 4, V) + (500 if V == 513 else 0)
    st = [(-np.inf, 0.0, 0.0)] * 256
    for tid in range(256):
        for v in range(tid, V, 256): st[tid] = add(st[tid], x[v])
    for o in (16, 8, 4, 2, 1):  # xor shuffles within warps
        st = [merge(st[i], st[i ^ o]) for i in range(256)]
    tot = st[0]
    for w in range(1, 8): tot = merge(tot, st[w * 32])
    m, s, t = tot
    lse = m + math.log(s); ent = math.log(s) - t / s
    p = np.exp(x - x.max()); p /= p.sum()
    rl = x.max() + math.log(np.exp(x - x.max()).sum()); re = -(p * np.log(p)).sum()
    print(V, abs(lse - rl), abs(ent - re))
    assert abs(lse - rl) < 1e-9 and abs(ent - re) < 1e-9
print("simulation ok")
