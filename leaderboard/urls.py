"""Public leaderboard pages (issue #3)."""

app_name = "leaderboard"
urlpatterns: list = []
