#!/usr/bin/env python3
"""The README's capacity table ("Large models" -> "Capacity"): a projection for LLaMA-7B, -13B and -70B with 128
calibration windows of 2048 tokens on 8, 32 and 128 executors of 4 cores, from the seconds measured in one 7B
SparseGPT run (4 layers, 32 windows of 512 tokens, local-cluster[2,1,5120]; report.json -> blocks 1-3, and the
per-linear log lines for down_proj). Run: python3 docs/capacity.py. Not used by the build or the tests."""

# measured: blocks 1-3 of the 4-layer llama-7b SparseGPT run quoted in the README
PROPAGATE = (61.663354529 + 58.777672767 + 60.919641751) / 3  # s per block, 2 cores
STATISTICS = (177.034650952 + 165.757060331 + 158.403951515) / 3
WRITE = (6.774641241 + 6.028785156 + 5.994938529) / 3
DOWN_PROJ_SOLVE = (45.25 + 38.88 + 41.21) / 3  # s, one task on 1 core, with decoding the sums and the loss
MEASURED_CORES, MEASURED_TOKENS, MEASURED_SEQLEN = 2, 32 * 512, 512

WINDOWS, SEQLEN, CORES_PER_EXECUTOR = 128, 2048, 4
MODELS = {  # hidden d, intermediate f, layers, k/v width (GQA: 8 heads x 128 at 70B)
    'llama-7b': dict(d=4096, f=11008, layers=32, kv=4096),
    'llama-13b': dict(d=5120, f=13824, layers=40, kv=5120),
    'llama-70b': dict(d=8192, f=28672, layers=80, kv=1024),
}
GB = 1e9


def block_parameters(m):
    return 2 * m['d'] ** 2 + 2 * m['d'] * m['kv'] + 3 * m['d'] * m['f']


def forward_flops_per_token(m, seqlen):
    return 2 * block_parameters(m) + 4 * seqlen * m['d']


def solve_flops(n, rows):  # SparseGPT: Cholesky and inverse, OBS updates, lazy updates, and the loss
    return 2 * n ** 3 / 3 + 128 * rows * n + 3 * rows * n ** 2


def solve_bytes(n, rows):  # packed sums fp64, full Hessian fp64, fp32 factor, four copies of W fp32
    return 8 * n * (n + 1) / 2 + 8 * n * n + 4 * n * n + 16 * rows * n


def main():
    ref = MODELS['llama-7b']
    print(f"measured: propagate {PROPAGATE:.1f} s, statistics {STATISTICS:.1f} s (x{STATISTICS / PROPAGATE:.2f}), "
          f"write {WRITE:.1f} s, down_proj solve {DOWN_PROJ_SOLVE:.1f} s")
    print("| model | executors (4 cores each) | projected wall time | per block: statistics / solve / propagate / write "
          "| heap per executor: statistics phase / solve phase | + its share of the samples (memory or disk) |")
    print("|---|---|---|---|---|---|")
    for name, m in MODELS.items():
        d, f = m['d'], m['f']
        for executors in (8, 32, 128):
            cores = min(CORES_PER_EXECUTOR * executors, WINDOWS)  # a window is never split: at most 128 tasks
            core_seconds = (PROPAGATE * MEASURED_CORES * (WINDOWS * SEQLEN / MEASURED_TOKENS)
                            * forward_flops_per_token(m, SEQLEN) / forward_flops_per_token(ref, MEASURED_SEQLEN))
            propagate = core_seconds / cores
            statistics = propagate * STATISTICS / PROPAGATE
            solve = DOWN_PROJ_SOLVE * solve_flops(f, d) / solve_flops(ref['f'], ref['d'])
            write = WRITE * block_parameters(m) / block_parameters(ref)
            wall = m['layers'] * (statistics + solve + propagate + write)
            tokens_per_task = WINDOWS * SEQLEN / cores
            heap_statistics = (2 * 2 * block_parameters(m)
                               + CORES_PER_EXECUTOR * (tokens_per_task * (3 * d + f) * 4 + 4 * d * f))
            heap_solve = solve_bytes(f, d)  # at most one solve task per executor once there are 7 or more
            share = WINDOWS * SEQLEN * d * 4 / executors
            print(f"| {name} | {executors} | {wall / 3600:.1f} h | {statistics:.0f} s / {solve:.0f} s / {propagate:.0f} s / "
                  f"{write:.0f} s | {heap_statistics / GB:.1f} GB / {heap_solve / GB:.1f} GB | {share / GB:.2f} GB |")
    for name, m in MODELS.items():
        d, f = m['d'], m['f']
        largest4 = sorted([solve_bytes(f, d), solve_bytes(d, f), solve_bytes(d, f), solve_bytes(d, d)], reverse=True)
        print(f"{name}: block {2 * block_parameters(m) / GB:.2f} GB in bf16; down_proj solve {solve_bytes(f, d) / GB:.2f} GB, "
              f"x{solve_flops(f, d) / solve_flops(ref['f'], ref['d']):.2f} the 7B FLOPs; "
              f"the four largest solves on one executor {sum(largest4) / GB:.1f} GB")


if __name__ == '__main__':
    main()
