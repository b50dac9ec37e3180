import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "propusk.settings")
django_application = get_wsgi_application()

# HCP's event pushes (/hcp/events/) are answered before Django's middleware, which is the
# staff pages' (propusk.events.webhook).
from propusk.events.webhook import PushFastPath  # noqa: E402 - after Django is set up

application = PushFastPath(django_application)
