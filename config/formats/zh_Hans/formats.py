"""Simplified Chinese number grouping: Django's zh_Hans formats define no thousands separator, so ``intcomma``
printed 15282851 where the analytics pages print 15,282,851. Business and government reports in mainland China
group digits in threes with a comma."""

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
