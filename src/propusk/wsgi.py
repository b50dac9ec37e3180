import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "propusk.settings")
django_application = get_wsgi_application()

# HCP's event pushes (/hcp/events/) are answered before Django's middleware, which is the
# staff pages' (propusk.events.webhook).
from django.conf import settings  # noqa: E402

from propusk.core.proxy import TrustedProxies, parse_networks  # noqa: E402
from propusk.events.webhook import PushFastPath  # noqa: E402 - after Django is set up

# Behind a reverse proxy, REMOTE_ADDR is the client's address (PROPUSK_TRUSTED_PROXIES), for
# the pushes' allow-list as for the staff pages' limits.
application = TrustedProxies(
    PushFastPath(django_application), parse_networks(settings.PROPUSK_TRUSTED_PROXIES)
)
