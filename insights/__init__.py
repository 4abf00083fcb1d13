"""What the PMO reads: analytics over the lessons, their actions, decisions and themes.

`insights.trends` follows the themes through time (reach, impact, trend per
window, repeated mistakes); `insights.report` turns them into the dashboard's
and the one-page executive report's numbers. Above `search` (it reads theme
vectors), below `web`.
"""
