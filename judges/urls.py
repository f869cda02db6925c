"""Judge configs and campaign pages (issue #4)."""

app_name = "judges"
urlpatterns: list = []
