"""Weekly and monthly reports: gather the figures (``data``), draw the charts (``charts``), write PDF or Excel."""
