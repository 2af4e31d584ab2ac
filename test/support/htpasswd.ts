/** Basic-auth fixture for the htpasswd registry: user `frozen`, password `frozen-secret` (bcrypt, cost 10). */
export const HTPASSWD_USER = 'frozen';
export const HTPASSWD_PASSWORD = 'frozen-secret';
export const HTPASSWD_LINE = 'frozen:$2b$10$SLK/4Q9UMOU9n1uOhBP48OllZ3znudDT7Ukpnz5/jmFNSgzwc892C\n';
