"""The browser runtime: ES modules for the page and worker, and the boot page template."""
