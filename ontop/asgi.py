import os

from django.core.asgi import get_asgi_application

from ontop.boot import load_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ontop.settings")
load_settings_or_exit()
application = get_asgi_application()
