"""Business logic of the arena. Writes are `<entity>_<action>` functions with keyword-only arguments;
views, the API and management commands all call these, so the three ways in behave alike."""
