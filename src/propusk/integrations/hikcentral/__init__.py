"""Django glue for the HCP client (``hikcentral``): settings -> client, and ``hcp_check``."""
