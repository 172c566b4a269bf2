"""OnTop GPU tier. Never imports Django or the web apps.

Kept empty on purpose: the web tier imports `gpu_worker.contract`, and importing this
package must not pull torch or anything heavy into a web process.
"""
