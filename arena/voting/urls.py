"""Human annotation pages (issue #5)."""

urlpatterns: list = []
