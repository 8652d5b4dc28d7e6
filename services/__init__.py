"""Use-cases shared by the REST API, the CLI and the workers. Services own the transaction: each public
function takes a ``Database`` (or a session) and commits or rolls back as one unit."""
