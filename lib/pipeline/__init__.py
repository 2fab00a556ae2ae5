"""The shipped processing stages: command-line programs on the cluster.

Every stage follows one calling convention (the cluster engine's):

    python -m <module> <stage> --params PARAMS.json --task-index K --task-count N

| module                     | stages                                                   |
|----------------------------|----------------------------------------------------------|
| `lib.pipeline.lavision`    | `setup`, `blend`, `stitch`, `downsize`                   |
| `lib.pipeline.registration`| `register`, `detect`                                     |
| `lib.pipeline.smartspim`   | `import`, `displcompute`, `place`, `copy_placement`, `merge`, `destripe` |

`params` (the JSON parameter document, never pickle) and `layout` (where every product goes) are shared by all of
them; `cli` is the common entry point.
"""
