"""Work that runs from the CLI without a web request, and the read side of what it writes: the recompute (SQL
aggregate -> vote-quality filters -> ratings/ -> immutable snapshot), reply features, the EQ analysis and the
export. `snapshots` and `leaderboard` are the pages' read side and import no rating math; the other modules
import `ratings` (numpy, scipy, choix) and pyarrow inside functions or at module level, so web code imports
only `snapshots` and `leaderboard`. It may import arena.models, arena.db, arena.config, arena.taxonomy,
arena.ingest, arena.voting and ratings; never arena.llm or arena.web."""
