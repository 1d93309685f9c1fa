<?php
// wp-config.php on the WordPress host, with the nginx or Apache real-IP set-up beside this file:
// REMOTE_ADDR already is the visitor, so no WP_FAIL2BAN_PROXIES is needed.
define('WP_FAIL2BAN_BLOCK_USER_ENUMERATION', true);
define('WP_FAIL2BAN_LOG_PINGBACKS', true);
define('WP_FAIL2BAN_LOG_SPAM', true);
define('WP_FAIL2BAN_LOG_COMMENT_ATTEMPTS', true);
// Short tags survive rsyslog's 32-character tag cut better with long host names:
define('WP_FAIL2BAN_SYSLOG_SHORT_TAG', true);
