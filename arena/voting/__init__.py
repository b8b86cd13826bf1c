"""The voting loop: drawing a battle (pairing), signed battle ids, casting a vote and its reveal, visitors'
keyed identities, the terms, the identity-leak and crisis screens, the review of excluded votes (moderation) and
a visitor's own data (privacy). Web requests call in here. It may import arena.models, arena.db, arena.config,
arena.taxonomy and arena.ingest (the demo bank's provider name); never arena.jobs, arena.llm or the rating
engine, since every page view runs through it."""
