# Horizon's settings for tests/horizon/run.sh: copied into the virtualenv's
# openstack_dashboard/local/ by run.sh; everything that varies comes from the environment.
import os

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SECRET_KEY = "vpnaas-horizon-test-only"
OPENSTACK_KEYSTONE_URL = os.environ.get("HORIZON_KEYSTONE_URL", "http://127.0.0.1:5000/v3")
OPENSTACK_KEYSTONE_DEFAULT_DOMAIN = "Default"
OPENSTACK_KEYSTONE_DEFAULT_ROLE = "member"
# Sessions live in the cache (Horizon's default); one runserver process, so the local memory
# cache is the whole cache. Django's default of 300 entries evicts sessions while Horizon's
# own API-call caching fills it, which logs the browser out mid-test.
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 100000},
    },
}
SESSION_TIMEOUT = 3600
# Plain HTTP on loopback.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# The VPN panel needs Neutron's VPN switch on; vpnaas has no other Neutron services.
OPENSTACK_NEUTRON_NETWORK = {
    "enable_router": True,
    "enable_quotas": False,
    "enable_ipv6": True,
    "enable_distributed_router": False,
    "enable_ha_router": False,
    "enable_fip_topology_check": False,
    "enable_vpn": True,
}
# Static files were collected and compressed once when the virtualenv was built.
STATIC_ROOT = os.environ.get("HORIZON_STATIC_ROOT", "/tmp/horizon-static")
COMPRESS_OFFLINE = True
COMPRESS_ENABLED = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "": {"handlers": ["console"], "level": os.environ.get("HORIZON_LOG_LEVEL", "INFO")},
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "keystoneauth": {"level": "WARNING"},
    },
}
