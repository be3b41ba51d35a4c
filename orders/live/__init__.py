"""The live panel's push channel: one hub per web process decides when an order's
workflow is asked, and pushes each open page's panel when its version changes."""
