"""The embedded default: a procedural world, the tiny LLaVA builder and the base recipe.

Everything here exists so that the paper can be reproduced with no downloads on two CPU
cores. The generic toolkit (data, audit, attack, align, methods, judge, evaluate, report)
imports nothing from this package; only `unmirage reproduce` and the `world` and `base`
commands do. A world directory is a complete artifact: the base recipe reads only it.
"""
